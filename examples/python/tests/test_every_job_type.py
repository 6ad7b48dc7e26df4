"""Each of the ten job types, started from Python by its workflow type with its published schema's example, runs to
completion and is then the same job, field for field, through the HTTP API's status and list. The ten run at once
(two wait for the job their example builds on), so the whole set takes about as long as its slowest chain."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

import synapse_jobs

JOB_TYPES = [
    "data_profiling",
    "data_profiling_llm_generation",
    "data_profiling_rule_execution",
    "llm_attribute_generation",
    "pde_auto_mapping",
    "pde_regeneration",
    "scoping_recommendations",
    "generate_scoping_recommendations",
    "intelligent_sampling",
    "test_execution",
]

#: The example that must have completed before this one starts: rule execution runs the profiling example's rules
#: (its $DATA_PROFILING_JOB_ID placeholder), regeneration maps again a PDE that the mapping example puts in the plan.
NEEDS = {"data_profiling_rule_execution": "data_profiling", "pde_regeneration": "pde_auto_mapping"}

#: Each job is a few attributes or one short document against the LLM stand-in: seconds. 90 s is a hang.
JOB_BOUND_S = 90


@dataclass
class Finished:
    job_id: str
    owner: str
    request: dict[str, Any]
    result: Any
    progress: dict[str, Any]
    seconds: float


async def _run(client, stack, job_type: str, done: dict[str, asyncio.Future]) -> Finished:
    placeholders = {}
    if job_type in NEEDS:
        earlier = await done[NEEDS[job_type]]
        placeholders["$DATA_PROFILING_JOB_ID"] = earlier.job_id
    request = synapse_jobs.example_request(job_type, owner=stack.owner(job_type), placeholders=placeholders)
    started = time.monotonic()
    handle = await synapse_jobs.start_job(
        client, job_type, request, job_id=f"py-{stack.run}-{job_type}", task_queue=stack.task_queue
    )
    result = await asyncio.wait_for(handle.result(), JOB_BOUND_S)
    # A closed workflow still answers its query (from its history, on a worker): the job's last progress.
    progress = await synapse_jobs.progress(handle)
    return Finished(handle.id, request["owner"], request, result, progress, time.monotonic() - started)


@pytest.fixture(scope="session")
async def finished(client, stack) -> dict[str, asyncio.Future]:
    """Every example started at once; each test awaits its own, so one failure fails only its job type's test."""
    done: dict[str, asyncio.Future] = {}
    for job_type in JOB_TYPES:
        done[job_type] = asyncio.ensure_future(_run(client, stack, job_type, done))
    yield done
    for future in done.values():
        future.cancel()


@pytest.mark.parametrize("job_type", JOB_TYPES)
async def test_example_runs_to_completion_and_the_api_shows_the_same_job(job_type, finished, stack):
    job = await finished[job_type]
    assert job.request.get("dataSourceId", stack.data_source_id) == stack.data_source_id
    assert job.progress["jobId"] == job.job_id
    assert job.progress["jobType"] == job_type
    assert job.progress["status"] == "completed"
    assert job.progress["totalSteps"] > 0
    assert job.progress["completedSteps"] + job.progress["failedSteps"] == job.progress["totalSteps"]

    async with stack.api(job.owner) as api:
        status = await api.status(job.job_id)
        assert status["job_id"] == job.job_id
        assert status["job_type"] == job_type
        assert status["owner"] == job.owner
        assert status["status"] == "completed"
        assert status["progress_percentage"] == 100
        assert status["completed_steps"] == job.progress["completedSteps"]
        assert status["total_steps"] == job.progress["totalSteps"]
        assert status["failed_steps"] == job.progress["failedSteps"]
        assert status["priority"] == job.progress["priority"]
        assert status["result"] == job.result
        assert status["error"] is None

        listed = {entry["job_id"]: entry for entry in await api.list(include="result")}
        assert job.job_id in listed, f"{job.job_id} is not in {job.owner}'s list"
        entry = listed[job.job_id]
        for field in ("job_type", "owner", "status", "progress_percentage", "completed_steps", "total_steps", "result"):
            assert entry[field] == status[field], field
