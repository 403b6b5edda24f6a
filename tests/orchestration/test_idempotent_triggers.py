"""Triggers over REST are idempotent: one execution per live range, a completed range is returned, force reruns."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
from sqlalchemy import func, select

from etl_orchestrator.db.models import etl_executions
from etl_orchestrator.service.executions import etl_workflow_id
from tests.orchestration.helpers import gold_counts, scoped_tenant, wait_execution
from tests.sandbox.scripting import SandboxScope

PREFIX = "/api/v1/etl"


def trigger_body(pipeline_id: str, day: date, *, force: bool = False) -> dict:
    return {"pipeline_id": pipeline_id,
            "parameters": {"date_range": {"start": day.isoformat(), "end": day.isoformat()}, "force": force}}


async def executions_of_range(engine, pipeline_id: str, day: date) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(etl_executions).where(
            etl_executions.c.workflow_id == etl_workflow_id(pipeline_id, day, day)))).scalar_one()


async def test_duplicate_trigger_returns_the_running_execution_then_the_completed_one_until_forced(
        stack, service, dsp_sandbox, advertiser):
    day = date(2024, 9, 2)
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(report_delay_s=2)  # the report stays RUNNING for a while: the run is live
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=tenant.headers) as client:
        first = (await client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day))).json()
        again = (await client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day))).json()
        assert again["execution_id"] == first["execution_id"]
        assert (await wait_execution(service.engine, first["execution_id"], statuses=("running",)))
        while_running = (await client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day))).json()
        assert while_running["execution_id"] == first["execution_id"]

        done = await wait_execution(service.engine, first["execution_id"])
        assert done["status"] == "completed", done["error"]
        after = (await client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day))).json()
        assert after["execution_id"] == first["execution_id"] and after["status"] == "completed"
        before_force = gold_counts(stack.settings.database.url, tenant.pipeline_id)

        forced = (await client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day, force=True))
                  ).json()
        assert forced["execution_id"] != first["execution_id"]
        rerun = await wait_execution(service.engine, forced["execution_id"])
    await scope.forget()
    assert rerun["status"] == "completed", rerun["error"]
    assert await executions_of_range(service.engine, tenant.pipeline_id, day) == 2
    silver = rerun["result"]["layers"]["silver"]["records"]
    rows, distinct = gold_counts(stack.settings.database.url, tenant.pipeline_id)[day]
    # The rerun replaced the partition: every grain once, as many rows as Silver has, as before.
    assert rows == distinct == silver > 0
    assert before_force[day] == (rows, distinct)


async def test_twenty_concurrent_identical_triggers_create_one_execution(stack, service, dsp_sandbox, advertiser):
    day = date(2024, 9, 3)
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=tenant.headers) as client:
        responses = await asyncio.gather(*(
            client.post(PREFIX + "/trigger", json=trigger_body(tenant.pipeline_id, day)) for _ in range(20)))
    assert [response.status_code for response in responses] == [200] * 20, [r.text for r in responses]
    ids = {response.json()["execution_id"] for response in responses}
    assert len(ids) == 1
    assert await executions_of_range(service.engine, tenant.pipeline_id, day) == 1
    done = await wait_execution(service.engine, ids.pop())
    assert done["status"] == "completed", done["error"]
