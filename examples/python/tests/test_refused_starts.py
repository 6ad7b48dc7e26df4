"""What a Python caller sees when a start cannot run: a request that breaks the contract fails its workflow within
seconds with an ApplicationError of type InvalidJobInput naming the offending field, and a job id that belongs to a
finished job is refused (JobIdTaken) with that job left exactly as it was."""

from __future__ import annotations

import time
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

import synapse_jobs

#: Admission refuses a bad request in its first activity, about 100 ms after the start; 10 s is the contract's bound.
REFUSAL_BOUND_S = 10


async def _failure_of(handle) -> tuple[ApplicationError, float]:
    started = time.monotonic()
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), repr(cause)
    return cause, time.monotonic() - started


BAD_STARTS = {
    "snake_case keys": (
        lambda owner, source: [{"owner": owner, "data_source_id": source, "attribute_ids": ["credit_score"]}],
        [
            "dataSourceId: is required",
            "data_source_id: unknown field; did you mean dataSourceId?",
            "attribute_ids: unknown field; did you mean attributeIds?",
        ],
    ),
    "a missing field": (lambda owner, source: [{"owner": owner}], ["dataSourceId: is required"]),
    "no argument at all": (lambda owner, source: [], ["(request): no start request was given"]),
}


@pytest.mark.parametrize("what", list(BAD_STARTS))
async def test_a_bad_start_fails_within_seconds_naming_the_field(what, client, stack):
    make_args, named = BAD_STARTS[what]
    handle = await client.start_workflow(
        "dataProfiling",
        args=make_args(stack.owner("refused"), stack.data_source_id),
        id=f"py-refused-{uuid.uuid4()}",
        task_queue=stack.task_queue,
    )
    failure, seconds = await _failure_of(handle)
    assert failure.type == "InvalidJobInput"
    for part in named:
        assert part in failure.message
    assert seconds < REFUSAL_BOUND_S
    # Nothing was recorded: the API knows no such job.
    async with stack.api(stack.owner("refused")) as api:
        with pytest.raises(synapse_jobs.JobsApiError) as missing:
            await api.status(handle.id)
        assert missing.value.status == 404


async def test_a_finished_jobs_id_is_refused_and_the_job_left_as_it_was(client, stack):
    owner = stack.owner("reuse")
    request = synapse_jobs.example_request("data_profiling_llm_generation", owner=owner)
    job_id = f"py-reuse-{uuid.uuid4()}"
    first = await synapse_jobs.start_job(
        client, "data_profiling_llm_generation", request, job_id=job_id, task_queue=stack.task_queue
    )
    result = await first.result()
    async with stack.api(owner) as api:
        before = await api.status(job_id)
        assert before["status"] == "completed"

        again = await synapse_jobs.start_job(
            client, "data_profiling_llm_generation", request, job_id=job_id, task_queue=stack.task_queue
        )
        failure, seconds = await _failure_of(again)
        assert failure.type == "JobIdTaken"
        assert f"job id {job_id} belongs to a data_profiling_llm_generation job that is completed" in failure.message
        assert seconds < REFUSAL_BOUND_S

        after = await api.status(job_id)
        assert after == before
        assert after["result"] == result
