"""Fixtures of the REST tests: an HTTP client of the session's API process, tenants, an admin key."""

from __future__ import annotations

import httpx
import pytest_asyncio

from tests.support import Tenant, create_admin_key, create_tenant


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
