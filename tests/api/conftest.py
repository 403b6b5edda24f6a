"""Fixtures of the REST tests: an HTTP client of the session's API process, tenants, an admin key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest_asyncio

from etl_orchestrator.embedded import ManagedProcess, free_port
from tests.conftest import wait_http
from tests.support import Tenant, create_admin_key, create_tenant


@contextlib.contextmanager
def another_api(stack, name: str, **env: str) -> Iterator[tuple[ManagedProcess, str]]:
    """One more ``etl-orchestrator api`` on the session's servers, on ports of its own; its URL."""
    port = free_port()
    environment = {**stack.env, "ETL_API__PORT": str(port), "ETL_API__GRPC_PORT": str(free_port()), **env}
    process = ManagedProcess(name, stack.cli("api"), log_path=stack.logs / f"{name}.log", env=environment).start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=30, process=process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop(10)


@pytest_asyncio.fixture(loop_scope="session")
async def client(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def tenant(stack, dsp_sandbox) -> Tenant:
    return await create_tenant(stack.settings.database.url,
                               source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})


@pytest_asyncio.fixture(loop_scope="session")
async def other_tenant(stack, dsp_sandbox) -> Tenant:
    return await create_tenant(stack.settings.database.url,
                               source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def admin_headers(stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {await create_admin_key(stack.settings.database.url)}"}
