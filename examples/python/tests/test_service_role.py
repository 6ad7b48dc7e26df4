"""A backend service with the service role starts jobs for the users it acts for, then follows and controls them;
it cannot reach other owners' jobs. Also what the API's refusals look like from Python (RFC 9457 problems), an
idempotency key reused with another request (422), and paging through a list by its cursor. No job needs to run to
its end here: each is cancelled once what the test shows is shown (a worker runs, so one may have finished by then:
a 409 for a finished job still shows the caller may control it, where another owner's job answers 404)."""

from __future__ import annotations

import pytest

import synapse_jobs


async def _cancel(api, job_id: str) -> None:
    """Cancels the job, or finds it finished already (409): either way the caller was allowed to control it."""
    try:
        await api.cancel(job_id)
    except synapse_jobs.JobsApiError as refused:
        assert (refused.status, refused.code) == (409, "wrong_state"), refused


def _request(stack, **extra):
    return {
        "jobType": "data_profiling_llm_generation",
        "dataSourceId": stack.data_source_id,
        "attributeIds": ["credit_score"],
        **extra,
    }


async def test_a_service_starts_a_job_for_a_user_and_follows_and_cancels_it(stack):
    user = stack.owner("served-user")
    async with stack.service_api("reports") as service, stack.api(user) as owner_api:
        started = await service.start(_request(stack), owner=user)
        assert started["owner"] == user
        # The service follows the job it started, and so does its owner.
        assert (await service.status(started["job_id"]))["owner"] == user
        assert (await owner_api.status(started["job_id"]))["job_id"] == started["job_id"]
        assert [job["job_id"] for job in await service.list(owner=user)] == [started["job_id"]]
        await _cancel(service, started["job_id"])


async def test_a_service_cannot_reach_a_job_it_did_not_start(stack):
    other = stack.owner("not-served")
    async with stack.api(other) as other_api, stack.service_api("reports") as service:
        theirs = await other_api.start(_request(stack))
        with pytest.raises(synapse_jobs.JobsApiError) as hidden:
            await service.status(theirs["job_id"])
        assert (hidden.value.status, hidden.value.code) == (404, "not_found")
        await _cancel(other_api, theirs["job_id"])


async def test_without_the_role_owner_in_the_body_is_ignored(stack):
    caller = stack.owner("plain-caller")
    async with stack.api(caller) as api:
        started = await api.start(_request(stack), owner=stack.owner("someone-else"))
        assert started["owner"] == caller
        await _cancel(api, started["job_id"])


async def test_refusals_are_problem_details(stack):
    async with stack.api(stack.owner("refusals")) as api:
        with pytest.raises(synapse_jobs.JobsApiError) as invalid:
            await api.start(_request(stack, attributeIds="credit_score", colour="blue"))
        problem = invalid.value
        assert (problem.status, problem.code, problem.title) == (400, "invalid_request", "Bad Request")
        assert problem.field == "attributeIds"
        assert {"field": "colour", "problem": "unknown field"} in problem.problems
        assert "attributeIds" in problem.detail

        first = await api.start(_request(stack), idempotency_key="py-idem-1")
        again = await api.start(_request(stack), idempotency_key="py-idem-1")
        assert (again["job_id"], again["created"]) == (first["job_id"], False)
        with pytest.raises(synapse_jobs.JobsApiError) as reused:
            await api.start(_request(stack, attributeIds=["apr_rate"]), idempotency_key="py-idem-1")
        assert (reused.value.status, reused.value.code) == (422, "idempotency_key_reused")
        await _cancel(api, first["job_id"])


async def test_list_all_follows_the_cursor_across_pages(stack):
    owner = stack.owner("pages")
    async with stack.api(owner) as api:
        started = [await api.start(_request(stack)) for _ in range(3)]
        listed = await api.list_all(limit=2)
        assert sorted(job["job_id"] for job in listed) == sorted(job["job_id"] for job in started)
        for job in started:
            await _cancel(api, job["job_id"])
