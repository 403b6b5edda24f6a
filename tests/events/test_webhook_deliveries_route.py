"""``GET /api/v1/etl/pipelines/{id}/webhook-deliveries``: tenant scoping, paging, malformed cursors."""

from __future__ import annotations

import uuid

import httpx
import pytest_asyncio
from fastapi import FastAPI

from etl_orchestrator.api.rest.app import API_PREFIX
from etl_orchestrator.api.rest.problems import install_problem_handlers
from etl_orchestrator.api.rest.routes import webhooks
from etl_orchestrator.config import DatabaseSettings, Settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.events.delivery_log import DeliveryAttempt, record_attempt
from etl_orchestrator.service.context import ServiceContext
from tests.support import create_tenant


@pytest_asyncio.fixture(loop_scope="session")
async def api(outbox_url):
    engine = make_async_engine(outbox_url, pool_size=2)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    app.state.ctx = ServiceContext(settings=Settings(database=DatabaseSettings(url=outbox_url)), engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client
    await engine.dispose()


async def test_deliveries_are_listed_newest_first_page_by_page(api, outbox_url):
    tenant = await create_tenant(outbox_url, source_config={})
    engine = make_async_engine(outbox_url, pool_size=1)
    event_id = uuid.uuid4()
    try:
        for attempt, status in enumerate((500, 502, 200), start=1):
            await record_attempt(engine, DeliveryAttempt(
                pipeline_id=uuid.UUID(tenant.pipeline_id), org_id=tenant.org_id, event_id=event_id,
                event_type="execution.completed", url="https://example.test/hook", attempt=attempt,
                status_code=status, success=status == 200, error=None if status == 200 else f"HTTP {status}",
                duration_ms=12))
    finally:
        await engine.dispose()
    path = f"{API_PREFIX}/pipelines/{tenant.pipeline_id}/webhook-deliveries"

    first = await api.get(path, params={"limit": 2}, headers=tenant.headers)
    assert first.status_code == 200, first.text
    assert [d["attempt"] for d in first.json()["deliveries"]] == [3, 2]
    assert first.json()["deliveries"][0] | {"id": 0, "created_at": ""} == {
        "id": 0, "event_id": str(event_id), "event_type": "execution.completed", "url": "https://example.test/hook",
        "attempt": 3, "status_code": 200, "success": True, "error": None, "duration_ms": 12, "created_at": ""}
    second = await api.get(path, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=tenant.headers)
    assert [d["attempt"] for d in second.json()["deliveries"]] == [1]
    assert second.json()["next_cursor"] is None


async def test_another_organizations_pipeline_is_404_and_a_bad_cursor_422(api, outbox_url):
    tenant = await create_tenant(outbox_url, source_config={})
    stranger = await create_tenant(outbox_url, source_config={})
    path = f"{API_PREFIX}/pipelines/{tenant.pipeline_id}/webhook-deliveries"

    assert (await api.get(path, headers=stranger.headers)).status_code == 404
    assert (await api.get(f"{API_PREFIX}/pipelines/{uuid.uuid4()}/webhook-deliveries",
                          headers=tenant.headers)).status_code == 404
    assert (await api.get(path)).status_code == 401
    bad = await api.get(path, params={"cursor": "not-a-cursor"}, headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["field"] == "cursor"
