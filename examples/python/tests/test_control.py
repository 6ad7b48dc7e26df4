"""Controlling a job from Python: pause and resume by update (answered with the job's progress) and by signal, the
priority by both, the progress query, cancel; and an update that cannot apply is rejected. The job is paused as soon
as it starts, so it holds until the test resumes it: nothing depends on how fast the LLM stand-in answers."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError

import synapse_jobs

#: A signal is applied by the workflow's next task, milliseconds later; 10 s is a lost signal.
APPLIED_BOUND_S = 10


async def _until_status(handle, wanted: str) -> dict:
    """Polls the progress query (bounded) until the job says `wanted`, as a signal's sender must: it gets no answer."""
    deadline = time.monotonic() + APPLIED_BOUND_S
    while True:
        progress = await synapse_jobs.progress(handle)
        if progress["status"] == wanted:
            return progress
        assert time.monotonic() < deadline, f"job {handle.id} still {progress['status']}, not {wanted}"
        await asyncio.sleep(0.05)


def _long_request(stack, owner: str) -> dict:
    """Every attribute of the demo data source, one at a time: a job that is still running when the test acts."""
    request = synapse_jobs.example_request("data_profiling_llm_generation", owner=owner)
    del request["attributeIds"]
    request["llmConcurrency"] = 1
    return request


async def test_pause_resume_priority_and_cancel_by_update_signal_and_query(client, stack):
    owner = stack.owner("control")
    handle = await synapse_jobs.start_job(
        client,
        "data_profiling_llm_generation",
        _long_request(stack, owner),
        job_id=f"py-control-{uuid.uuid4()}",
        task_queue=stack.task_queue,
    )

    paused = await synapse_jobs.pause(handle, now=True)
    assert paused["jobId"] == handle.id
    assert paused["status"] == "paused"
    assert (await synapse_jobs.progress(handle))["status"] == "paused"

    # A paused job cannot be paused again: the update's validator rejects it, and says why.
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await synapse_jobs.pause(handle)
    assert isinstance(rejected.value.cause, ApplicationError)
    assert rejected.value.cause.type == "ControlStateRefused"
    assert "it is paused" in rejected.value.cause.message

    prioritised = await synapse_jobs.set_priority(handle, "high")
    assert prioritised["priority"] == 1
    assert prioritised["status"] == "paused"

    resumed = await synapse_jobs.resume(handle)
    assert resumed["status"] == "running"

    # The same by signal: no answer, so the query shows it applied.
    await synapse_jobs.pause_by_signal(handle)
    await _until_status(handle, "paused")
    await synapse_jobs.set_priority_by_signal(handle, 5)
    deadline = time.monotonic() + APPLIED_BOUND_S
    while (await synapse_jobs.progress(handle))["priority"] != 5:
        assert time.monotonic() < deadline, "the setPriority signal was not applied"
        await asyncio.sleep(0.05)
    await synapse_jobs.resume_by_signal(handle)
    running = await _until_status(handle, "running")
    assert running["totalSteps"] == 110
    assert running["completedSteps"] < running["totalSteps"]

    await synapse_jobs.cancel(handle)
    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()
    assert isinstance(ended.value.cause, CancelledError)
    async with stack.api(owner) as api:
        status = await api.status(handle.id)
    assert status["status"] == "cancelled"
    assert status["priority"] == 5


async def test_an_update_to_a_finished_job_is_rejected(client, stack):
    owner = stack.owner("finished")
    request = synapse_jobs.example_request("test_execution", owner=owner)
    handle = await synapse_jobs.start_job(client, "test_execution", request, task_queue=stack.task_queue)
    await handle.result()
    assert (await synapse_jobs.progress(handle))["status"] == "completed"
    # Its workflow has ended: the server refuses the update before any worker sees it.
    with pytest.raises(RPCError) as refused:
        await synapse_jobs.pause(handle)
    assert "already completed" in str(refused.value)
    # The job is as it was.
    async with stack.api(owner) as api:
        assert (await api.status(handle.id))["status"] == "completed"
