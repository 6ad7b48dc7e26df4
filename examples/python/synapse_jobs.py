"""Start and control Synapse Jobs from Python: a module a FastAPI backend can copy as it is.

Two ways in. Through Temporal (the ``temporalio`` SDK): start a job by its workflow type with the start request as
the workflow's one argument, then pause, resume and set its priority by update (answered with the job's progress)
or by signal, ask its progress by query, cancel it. Through the HTTP API (``httpx``): start a job with
``POST /api/v1/jobs`` and poll ``GET /api/v1/jobs/{id}/status`` with a bearer token; a token with the service role
starts jobs for a named owner (``JobsApi.start(..., owner=...)``). Refusals are RFC 9457 problem details, raised as
``JobsApiError``. Requests follow the published schemas in ``schemas/<job_type>.schema.json`` (the whole API:
``schemas/openapi.json``); ``example_request`` reads one of their examples.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import httpx
import jwt
from temporalio.client import Client, WorkflowHandle

#: The task queue the Synapse Jobs workers poll (common/jobs.ts TASK_QUEUE).
TASK_QUEUE = "synapse-jobs"

#: Where the published start-request schemas live in the repository; a copy elsewhere can be passed explicitly.
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

FINAL_STATUSES = ("completed", "failed", "cancelled")

# --- the contract ------------------------------------------------------------------------------------------------


def load_schema(job_type: str, schemas_dir: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The published JSON Schema of a job type's start request (what the job does, its fields, its examples)."""
    return json.loads((schemas_dir / f"{job_type}.schema.json").read_text(encoding="utf-8"))


def workflow_type(job_type: str, schemas_dir: Path = SCHEMAS_DIR) -> str:
    """The workflow type that runs ``job_type``, e.g. ``dataProfiling`` for ``data_profiling``."""
    return load_schema(job_type, schemas_dir)["x-workflow-type"]


def example_request(
    job_type: str,
    *,
    owner: str | None = None,
    placeholders: dict[str, str] | None = None,
    schemas_dir: Path = SCHEMAS_DIR,
) -> dict[str, Any]:
    """The schema's first example, with ``owner`` set and placeholders (e.g. ``$DATA_PROFILING_JOB_ID``) filled in."""
    schema = load_schema(job_type, schemas_dir)
    text = json.dumps(schema["examples"][0])
    for name, value in (placeholders or {}).items():
        text = text.replace(json.dumps(name), json.dumps(value))
    missing = [name for name in schema.get("x-placeholders", {}) if json.dumps(name) in text]
    if missing:
        raise ValueError(f"{job_type}'s example needs a value for {', '.join(missing)}: {schema['x-placeholders']}")
    request = json.loads(text)
    if owner is not None:
        request["owner"] = owner
    return request


# --- through Temporal --------------------------------------------------------------------------------------------


async def connect(address: str = "localhost:7233", namespace: str = "default") -> Client:
    """A Temporal client; the default data converter sends the request as the JSON the schemas describe."""
    return await Client.connect(address, namespace=namespace)


async def start_job(
    client: Client,
    job_type: str,
    request: dict[str, Any],
    *,
    job_id: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> WorkflowHandle[Any, Any]:
    """Starts a job by workflow type. The job id is the workflow id: choose it, or get ``<job_type>-<uuid>``.

    The request is admitted by the workflow's first activity; a refused one fails the workflow within seconds, so
    ``await handle.result()`` raises ``WorkflowFailureError`` whose ``cause`` is an ``ApplicationError`` with
    ``type`` ``InvalidJobInput`` (every offending field named in the message), ``QuotaExceeded`` or ``JobIdTaken``.
    """
    return await client.start_workflow(
        workflow_type(job_type),
        request,
        id=job_id or f"{job_type}-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def pause(handle: WorkflowHandle[Any, Any], *, now: bool = False) -> dict[str, Any]:
    """Pauses the job and returns its progress (``status`` ``paused``). ``now`` also stops the work in flight.

    Rejected (``WorkflowUpdateFailedError``, cause type ``ControlStateRefused``) unless the job is pending or running.
    """
    return await handle.execute_update("pause", {"now": now})


async def resume(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """Resumes a paused job and returns its progress (``status`` ``running``); rejected unless it is paused."""
    return await handle.execute_update("resume")


async def set_priority(handle: WorkflowHandle[Any, Any], priority: int | str) -> dict[str, Any]:
    """Sets the priority, 1 (highest) to 5 or ``high`` / ``normal`` / ``low``, and returns the progress."""
    return await handle.execute_update("setPriority", {"priority": priority})


async def pause_by_signal(handle: WorkflowHandle[Any, Any], *, now: bool = False) -> None:
    """The same pause as a signal: no answer, and one that cannot apply is dropped (e.g. from the stock CLI)."""
    await handle.signal("pause", {"now": now})


async def resume_by_signal(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal("resume")


async def set_priority_by_signal(handle: WorkflowHandle[Any, Any], priority: int) -> None:
    """The signal takes a number only, 1 (highest) to 5."""
    await handle.signal("setPriority", {"priority": priority})


async def progress(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The job's progress: jobId, jobType, status, completedSteps, totalSteps, failedSteps, priority, etaSeconds…"""
    return await handle.query("progress")


async def cancel(handle: WorkflowHandle[Any, Any]) -> None:
    """Asks the job to stop; it ends ``cancelled``, and ``handle.result()`` raises ``WorkflowFailureError``."""
    await handle.cancel()


# --- through the HTTP API ----------------------------------------------------------------------------------------


def dev_token(secret: str, owner: str, *, roles: Iterable[str] = (), lifetime_s: int = 3600) -> str:
    """A development bearer token: HS256 with the API's ``JWT_SECRET``, ``sub`` = the owner. Production tokens come
    from the identity provider; the API needs ``exp`` and at most ``JWT_MAX_LIFETIME_S`` (a day) of life."""
    issued = int(time.time())
    claims = {"sub": owner, "roles": list(roles), "iat": issued, "exp": issued + lifetime_s}
    return jwt.encode(claims, secret, algorithm="HS256")


class JobsApiError(Exception):
    """An error answer of the API: an RFC 9457 problem (``application/problem+json``): ``status``, ``title``,
    ``detail`` (what is wrong, for a person), ``code`` (the error code: invalid_request, not_found, wrong_state,
    idempotency_key_reused, …) and, for an invalid request, ``field`` (the first offending one) and ``problems``
    (every one, each ``{"field", "problem"}``). ``retry_after`` is the 503's Retry-After in seconds, when given."""

    def __init__(self, status: int, problem: dict[str, Any], *, retry_after: float | None = None):
        self.detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(f"{status} {problem.get('code')}: {self.detail}")
        self.status = status
        self.code = problem.get("code")
        self.title = problem.get("title")
        self.field = problem.get("field")
        self.problems = problem.get("problems", [])
        self.retry_after = retry_after


class JobsApi:
    """The HTTP API as one owner (the token's ``sub``) sees it."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30.0):
        # 30 s: well over the API's own bounds (Temporal calls answer or 503 within 2 s), so a hang is ours to see.
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    @classmethod
    def with_dev_token(cls, base_url: str, secret: str, owner: str, *, roles: Iterable[str] = ()) -> "JobsApi":
        """``roles=["service"]`` makes a service's token (the API's ``JWT_SERVICE_ROLE``)."""
        return cls(base_url, dev_token(secret, owner, roles=roles))

    async def __aenter__(self) -> "JobsApi":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            retry_after = response.headers.get("retry-after")
            raise JobsApiError(
                response.status_code,
                problem if isinstance(problem, dict) else {},
                retry_after=float(retry_after) if retry_after else None,
            )
        return response.json()

    async def start(
        self, request: dict[str, Any], *, idempotency_key: str | None = None, owner: str | None = None
    ) -> dict[str, Any]:
        """Starts a job (``jobType`` required here); returns its status, ``job_id`` included. ``owner`` starts it
        for that owner: only a token with the service (or admin) role may; any other token owns what it starts. The
        same ``idempotency_key`` with the same request returns the first job; with another request it is refused
        (422, ``idempotency_key_reused``)."""
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        body = {**request, "owner": owner} if owner is not None else request
        return await self._call("POST", "/api/v1/jobs", json=body, headers=headers)

    async def status(self, job_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/v1/jobs/{job_id}/status")

    async def list(self, **filters: str | int) -> list[dict[str, Any]]:
        """The first page of the caller's jobs, newest first; filters: status, type, owner (a service: one of the
        owners it starts jobs for), cycleId, reportId, createdAfter, createdBefore, limit, include…"""
        return (await self._call("GET", "/api/v1/jobs", params=filters))["jobs"]

    async def list_all(self, **filters: str | int) -> list[dict[str, Any]]:
        """Every page of the list, following ``next_cursor`` until the last page (``limit`` is the page size)."""
        jobs: list[dict[str, Any]] = []
        params: dict[str, str | int] = dict(filters)
        while True:
            page = await self._call("GET", "/api/v1/jobs", params=params)
            jobs.extend(page["jobs"])
            if not page["next_cursor"]:
                return jobs
            params = {**filters, "cursor": page["next_cursor"]}

    async def pause(self, job_id: str, *, now: bool = False) -> dict[str, Any]:
        return await self._call("POST", f"/api/v1/jobs/{job_id}/pause", json={"now": now})

    async def resume(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/v1/jobs/{job_id}/resume")

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/v1/jobs/{job_id}/cancel")

    async def wait(self, job_id: str, *, timeout_s: float = 300.0, every_s: float = 0.5) -> dict[str, Any]:
        """Polls the status until the job is completed, failed or cancelled; returns that status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self.status(job_id)
            if status["status"] in FINAL_STATUSES:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status['status']} after {timeout_s} s")
            await asyncio.sleep(every_s)


async def _demo() -> None:
    """``python synapse_jobs.py``: one data_profiling job through Temporal, then one through the HTTP API."""
    import os

    client = await connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    handle = await start_job(client, "data_profiling", example_request("data_profiling", owner="analyst@example.com"))
    print("started", handle.id, await progress(handle))
    print("result", await handle.result())
    if "JWT_SECRET" in os.environ:
        url = os.environ.get("SYNAPSE_API_URL", "http://localhost:8080")
        async with JobsApi.with_dev_token(url, os.environ["JWT_SECRET"], "analyst@example.com") as api:
            started = await api.start(example_request("test_execution", owner="analyst@example.com"))
            print("via the API", (await api.wait(started["job_id"]))["result"])


if __name__ == "__main__":
    asyncio.run(_demo())
