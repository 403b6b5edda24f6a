"""Backfills over REST: create (validated), list, get with progress, pause, resume, cancel."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.sandbox.scripting import SandboxScope
from tests.support import create_tenant

PREFIX = "/api/v1/etl"


async def create(client, tenant, start: str, end: str, **extra):
    response = await client.post(f"{PREFIX}/backfills", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id, "date_range": {"start": start, "end": end}, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def wait_status(client, tenant, backfill_id: str, statuses: tuple[str, ...], timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while True:
        backfill = (await client.get(f"{PREFIX}/backfills/{backfill_id}", headers=tenant.headers)).json()
        if backfill["status"] in statuses:
            return backfill
        assert time.monotonic() < deadline, backfill
        await asyncio.sleep(0.2)


async def test_a_backfill_runs_its_range_and_reports_progress(client, tenant):
    backfill = await create(client, tenant, "2024-10-01", "2024-10-03", parallelism=2)
    assert backfill["status"] == "running" and backfill["progress"]["total"] == 3
    assert backfill["date_range"] == {"start": "2024-10-01", "end": "2024-10-03"}
    done = await wait_status(client, tenant, backfill["backfill_id"], ("completed", "failed"))
    assert done["status"] == "completed" and done["progress"]["done"] == 3, done
    listed = (await client.get(f"{PREFIX}/backfills", params={"pipeline_id": tenant.pipeline_id},
                               headers=tenant.headers)).json()
    assert [item["backfill_id"] for item in listed["backfills"]] == [backfill["backfill_id"]]
    executions = (await client.get(f"{PREFIX}/executions", headers=tenant.headers)).json()["executions"]
    assert len(executions) == 3 and {execution["status"] for execution in executions} == {"completed"}


@pytest.fixture
async def slow_tenant(stack, dsp_sandbox):
    """A tenant whose reports take long to be ready, so its backfill is still running when acted on."""
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(report_delay_s=60)
    yield await create_tenant(stack.settings.database.url,
                              source_config={"base_url": scope.url, "token": scope.token})
    await scope.forget()


async def test_pause_resume_and_cancel_a_running_backfill(client, slow_tenant):
    tenant = slow_tenant
    backfill = await create(client, tenant, "2024-09-01", "2024-09-10", parallelism=1)
    url = f"{PREFIX}/backfills/{backfill['backfill_id']}"
    paused = await client.post(f"{url}/pause", headers=tenant.headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    resumed = await client.post(f"{url}/resume", headers=tenant.headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    cancelled = await client.post(f"{url}/cancel", headers=tenant.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] in ("cancelling", "cancelled")
    final = await wait_status(client, tenant, backfill["backfill_id"], ("cancelled",), timeout_s=30)
    assert final["completed_at"] is not None
    assert (await client.post(f"{url}/pause", headers=tenant.headers)).status_code == 409


@pytest.mark.parametrize(("body", "field"), [
    ({"date_range": {"start": "2024-01-10", "end": "2024-01-01"}}, "date_range.end"),
    ({"date_range": {"start": "2024-01-01", "end": "2024-01-02"}, "parallelism": 0}, "parallelism"),
    ({"date_range": {"start": "2014-01-01", "end": "2024-12-31"}}, "start"),
    ({"date_range": {"start": "2024-01-01"}}, "date_range.end"),
])
async def test_malformed_backfill_is_422_naming_the_field(client, tenant, body, field):
    response = await client.post(f"{PREFIX}/backfills", headers=tenant.headers,
                                 json={"pipeline_id": tenant.pipeline_id, **body})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
