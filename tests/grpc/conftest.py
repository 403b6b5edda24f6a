"""Fixtures of the gRPC tests: a channel to the session API process's gRPC port, stubs, keys."""

from __future__ import annotations

import grpc
import pytest_asyncio

from etl_orchestrator.api.grpc.protos import etl_pb2_grpc
from tests.support import Tenant, create_admin_key, create_tenant


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def channel(stack):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.env['ETL_API__GRPC_PORT']}") as channel:
        yield channel


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def stub(channel) -> etl_pb2_grpc.EtlServiceStub:
    return etl_pb2_grpc.EtlServiceStub(channel)


@pytest_asyncio.fixture(loop_scope="session")
async def tenant(stack, dsp_sandbox) -> Tenant:
    return await create_tenant(stack.settings.database.url,
                               source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def admin_metadata(stack):
    return auth(await create_admin_key(stack.settings.database.url))
