"""What every test of the Python caller shares: where the dev server, the worker's task queue and the API are (the
Jest test test/client/python-caller.test.ts passes them in the environment), one Temporal client, and names unique
to this run so that jobs and owners never collide with another run's on the same database."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

import synapse_jobs


@dataclass(frozen=True)
class Stack:
    temporal_address: str
    namespace: str
    task_queue: str
    api_url: str
    jwt_secret: str
    data_source_id: str
    run: str

    def owner(self, name: str) -> str:
        """An owner of this run's: each has its own quota (5 active jobs by default) and sees only its own jobs."""
        return f"py-{self.run}-{name}"

    def api(self, owner: str) -> synapse_jobs.JobsApi:
        return synapse_jobs.JobsApi.with_dev_token(self.api_url, self.jwt_secret, owner)

    def service_api(self, name: str) -> synapse_jobs.JobsApi:
        """The API as a service: a token whose roles hold the service role (JWT_SERVICE_ROLE, ``service``)."""
        return synapse_jobs.JobsApi.with_dev_token(
            self.api_url, self.jwt_secret, f"svc-{self.run}-{name}", roles=["service"]
        )


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run this suite through test/client/python-caller.test.ts", returncode=2)
    return value


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(
        temporal_address=_required("TEMPORAL_ADDRESS"),
        namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
        task_queue=_required("SYNAPSE_TASK_QUEUE"),
        api_url=_required("SYNAPSE_API_URL"),
        jwt_secret=_required("JWT_SECRET"),
        data_source_id=_required("DEMO_DATA_SOURCE_ID"),
        run=uuid.uuid4().hex[:8],
    )


@pytest.fixture(scope="session")
async def client(stack: Stack):
    return await synapse_jobs.connect(stack.temporal_address, stack.namespace)
