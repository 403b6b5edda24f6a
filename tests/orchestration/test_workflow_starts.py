"""Workflow starts after the answer (``service/workflow_starts.py``): a committed trigger always runs, once.

The process that answered a trigger is made to "die" before starting the workflow: its starter is
told nothing (``submit`` does nothing) and closed. What it committed must still run (another
process's starter sweeps it up after the lease), must never run when cancelled first, and must run
once when the start happened but its commit was lost.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.activities.contracts import ETLInput
from etl_orchestrator.db.models import workflow_starts
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.service.executions import cancel_execution, run_options, trigger_execution
from etl_orchestrator.service.workflow_starts import LEASE_S, MEMO_EXECUTION_ID
from tests.orchestration.helpers import execution_row, principal_of, scoped_tenant, wait_execution, wait_until
from tests.sandbox.scripting import SandboxScope


async def pending_starts(engine, execution_id: UUID) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(workflow_starts)
                                   .where(workflow_starts.c.execution_id == execution_id))).scalar_one()


async def trigger_then_die(service: ServiceContext, monkeypatch: pytest.MonkeyPatch, tenant, day: date):
    """Trigger from a context whose process dies right after the commit, before starting the workflow."""
    doomed = ServiceContext(settings=service.settings, engine=service.engine, temporal=service.temporal)
    monkeypatch.setattr(doomed.workflow_starter(), "submit", lambda execution_id: None)
    triggered = await trigger_execution(doomed, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id),
                                        start=day, end=day)
    await doomed.aclose()
    assert triggered.status == "scheduled"
    assert await pending_starts(service.engine, triggered.execution_id) == 1
    return triggered


async def test_a_trigger_whose_process_died_before_the_start_is_started_by_another_process(
        stack, service, temporal_client, dsp_sandbox, advertiser, monkeypatch):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    triggered = await trigger_then_die(service, monkeypatch, tenant, date(2024, 7, 8))

    # The API process's starter leaves the row alone for the lease, then sweeps it up.
    done = await wait_execution(service.engine, triggered.execution_id, timeout_s=LEASE_S + 60)
    await scope.forget()
    assert done["status"] == "completed", done["error"]
    assert await pending_starts(service.engine, triggered.execution_id) == 0
    memo = await (await temporal_client.get_workflow_handle(done["workflow_id"]).describe()).memo()
    assert memo[MEMO_EXECUTION_ID] == str(triggered.execution_id)


async def test_an_execution_cancelled_before_its_workflow_started_never_starts(
        stack, service, temporal_client, dsp_sandbox, advertiser, monkeypatch):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    triggered = await trigger_then_die(service, monkeypatch, tenant, date(2024, 7, 9))

    answer = await cancel_execution(service, principal_of(tenant), triggered.execution_id)
    assert answer["status"] == "cancelled"
    assert (await execution_row(service.engine, triggered.execution_id))["status"] == "cancelled"
    # The start went with the cancel, in one transaction: no starter can ever pick it up.
    assert await pending_starts(service.engine, triggered.execution_id) == 0
    with pytest.raises(RPCError) as missing:
        await temporal_client.get_workflow_handle(
            (await execution_row(service.engine, triggered.execution_id))["workflow_id"]).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    await scope.forget()


async def test_a_start_whose_commit_was_lost_is_recognised_and_not_repeated(
        stack, service, temporal_client, dsp_sandbox, advertiser, monkeypatch):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    day = date(2024, 7, 10)
    triggered = await trigger_then_die(service, monkeypatch, tenant, day)
    row = await execution_row(service.engine, triggered.execution_id)
    # A starter started the workflow, then died before deleting the row: the start is in Temporal only.
    params = ETLInput(execution_id=triggered.execution_id, org_id=tenant.org_id, pipeline_id=UUID(tenant.pipeline_id),
                      start=day, end=day, options=run_options(service.settings))
    await temporal_client.start_workflow("ETLWorkflow", params, id=row["workflow_id"],
                                         task_queue=service.settings.etl.temporal.task_queue,
                                         memo={MEMO_EXECUTION_ID: str(triggered.execution_id)})

    # The next starter to claim the row is refused by Temporal ("already started"), reads the memo,
    # and counts it as started: the row goes, and the execution runs once.
    survivor = ServiceContext(settings=service.settings, engine=service.engine, temporal=service.temporal)
    survivor.workflow_starter().submit(triggered.execution_id)
    await wait_until(lambda: _no_pending(service.engine, triggered.execution_id), timeout_s=LEASE_S,
                     what="the start row recognised as started")
    await survivor.aclose()
    done = await wait_execution(service.engine, triggered.execution_id)
    await scope.forget()
    assert done["status"] == "completed", done["error"]
    runs = [execution async for execution in temporal_client.list_workflows(f"WorkflowId = '{row['workflow_id']}'")]
    assert [run.status for run in runs] == [WorkflowExecutionStatus.COMPLETED]


async def _no_pending(engine, execution_id: UUID) -> bool:
    return await pending_starts(engine, execution_id) == 0
