"""Test helpers that talk to the service the way users do: tenants with keys, triggers, waiting."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.service.auth import create_api_key
from etl_orchestrator.service.organizations import create_organization, create_pipeline


@dataclass(frozen=True)
class Tenant:
    org_id: int
    key: str
    pipeline_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def create_tenant(database_url: str, *, source_kind: str = "dv360", source_config: dict[str, Any],
                        quality_rules: list[dict[str, Any]] | None = None, name: str | None = None) -> Tenant:
    """A new organization with one org key and one pipeline."""
    engine = make_async_engine(database_url, pool_size=1)
    suffix = uuid.uuid4().hex[:8]
    try:
        async with engine.begin() as conn:
            org_id = await create_organization(conn, name=name or f"Org {suffix}", slug=f"org-{suffix}")
            _, key = await create_api_key(conn, org_id=org_id, name="test key")
            pipeline_id = await create_pipeline(conn, org_id=org_id, name=f"Pipeline {suffix}",
                                                source_kind=source_kind, source_config=source_config,
                                                quality_rules=quality_rules)
    finally:
        await engine.dispose()
    return Tenant(org_id=org_id, key=key, pipeline_id=str(pipeline_id))


async def create_admin_key(database_url: str) -> str:
    engine = make_async_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            _, key = await create_api_key(conn, org_id=None, name="test admin", is_admin=True)
    finally:
        await engine.dispose()
    return key


async def wait_for_execution(client: httpx.AsyncClient, tenant: Tenant, execution_id: str, *,
                             timeout_s: float = 60.0, statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
                             ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/api/v1/etl/executions/{execution_id}", headers=tenant.headers)
        response.raise_for_status()
        body = response.json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} still {body['status']} after {timeout_s}s: {body}")
        await asyncio.sleep(0.1)
