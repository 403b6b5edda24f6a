"""BackfillWorkflow: a date range as child ETL runs; crash-proof, exactly once, skippable, pausable."""

from __future__ import annotations

import signal
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from sqlalchemy import func, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from etl_orchestrator.db.models import etl_executions
from etl_orchestrator.domain.errors import ConflictError, NotFoundError
from etl_orchestrator.service import backfills
from etl_orchestrator.service.executions import trigger_execution
from etl_orchestrator.worker import PASSTHROUGH_MODULES
from etl_orchestrator.workflows.backfill import BackfillWorkflow
from tests.orchestration.helpers import (
    ADMIN,
    gold_counts,
    principal_of,
    scoped_tenant,
    wait_execution,
    wait_for_poller,
    wait_until,
)
from tests.sandbox.scripting import SandboxScope

FINAL = ("completed", "failed", "cancelled")


async def wait_backfill(ctx, backfill_id: str, *, timeout_s: float, check=lambda view: view["status"] in FINAL
                        ) -> dict[str, Any]:
    async def reached():
        view = await backfills.get_backfill(ctx, ADMIN, UUID(backfill_id))
        return view if check(view) else None

    return await wait_until(reached, timeout_s=timeout_s, what=f"backfill {backfill_id}", interval_s=0.2)


def ledger(database_url: str, pipeline_id: str) -> dict[date, tuple[str, int | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT date, status, silver_records FROM partitions WHERE pipeline_id = %s",
                            (pipeline_id,)).fetchall()
    return {day: (status, silver) for day, status, silver in rows}


async def executions_by_status(ctx, backfill_id: str) -> dict[str, int]:
    return await backfills.backfill_execution_counts(ctx, UUID(backfill_id))


async def test_a_30_day_backfill_survives_a_killed_worker_and_loads_every_partition_once(
        stack, workers, context_for, temporal_client, dsp_sandbox, advertiser):
    queue, backfill_queue = workers.queues("backfill")
    # A short heartbeat timeout: the killed worker's long activities are retried within seconds.
    overrides = {"ETL_WORKERS__HEARTBEAT_TIMEOUT": "3s"}
    doomed = workers.start("worker-backfill-1", queue, backfill_queue, **overrides)
    survivor = workers.start("worker-backfill-2", queue, backfill_queue, **overrides)
    for process in (doomed, survivor):
        await wait_for_poller(temporal_client, backfill_queue, f"{process.pid}@")
    ctx = context_for(workers.settings(queue, backfill_queue, **overrides))
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    start, end = date(2024, 3, 1), date(2024, 3, 30)
    created = await backfills.create_backfill(ctx, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id),
                                              start=start, end=end, parallelism=4, children_per_run=10)
    backfill_id = created["backfill_id"]
    assert created["status"] == "running" and created["progress"]["total"] == 30

    midway = await wait_backfill(ctx, backfill_id, timeout_s=120,
                                 check=lambda view: view["progress"]["done"] >= 8)
    assert midway["progress"]["running"] <= 4
    doomed.signal(signal.SIGKILL)
    replacement = workers.start("worker-backfill-3", queue, backfill_queue, **overrides)

    done = await wait_backfill(ctx, backfill_id, timeout_s=240)
    assert done["status"] == "completed", done
    progress = done["progress"]
    assert (progress["done"], progress["failed"], progress["skipped"], progress["running"],
            progress["remaining"]) == (30, 0, 0, 0, 0)
    assert progress["run_no"] >= 3  # continued as new every 10 partitions
    days = [start + timedelta(days=offset) for offset in range(30)]
    partitions = ledger(stack.settings.database.url, tenant.pipeline_id)
    assert {day: partitions[day][0] for day in days} == dict.fromkeys(days, "completed")
    gold = gold_counts(stack.settings.database.url, tenant.pipeline_id)
    for day in days:
        rows, distinct = gold[day]
        assert rows == distinct == partitions[day][1] > 0, day  # each grain once, all of Silver
    # One execution per partition, however often activities were retried or runs continued as new.
    assert await executions_by_status(ctx, backfill_id) == {"completed": 30}
    replacement.stop(10)
    survivor.stop(10)


async def test_completed_partitions_are_skipped_unless_forced(stack, service, dsp_sandbox, advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    principal = principal_of(tenant)
    pipeline_id = UUID(tenant.pipeline_id)
    first, middle, last = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)
    triggered = await trigger_execution(service, principal, pipeline_id=pipeline_id, start=middle, end=middle)
    assert (await wait_execution(service.engine, triggered.execution_id))["status"] == "completed"

    plain = await backfills.create_backfill(service, principal, pipeline_id=pipeline_id, start=first, end=last,
                                            parallelism=2)
    plain = await wait_backfill(service, plain["backfill_id"], timeout_s=60)
    assert plain["status"] == "completed"
    assert (plain["progress"]["done"], plain["progress"]["skipped"]) == (2, 1)
    assert await executions_by_status(service, plain["backfill_id"]) == {"completed": 2}
    # The children loaded Gold without pacing; the backfill recomputed it once, as of the newest day.
    with psycopg.connect(stack.settings.database.url) as conn:
        children_gold = conn.execute("SELECT result->'layers'->'gold'->'tables_updated' FROM etl_executions"
                                     " WHERE backfill_id = %s", (plain["backfill_id"],)).fetchall()
        as_of = conn.execute("SELECT array_agg(DISTINCT as_of_date), count(*) FROM gold.pacing_metrics"
                             " WHERE pipeline_id = %s", (tenant.pipeline_id,)).fetchone()
    assert [row[0] for row in children_gold] == [["campaign_daily"]] * 2
    assert as_of[0] == [last] and as_of[1] > 0

    forced = await backfills.create_backfill(service, principal, pipeline_id=pipeline_id, start=first, end=last,
                                             parallelism=2, force=True)
    forced = await wait_backfill(service, forced["backfill_id"], timeout_s=60)
    assert (forced["progress"]["done"], forced["progress"]["skipped"]) == (3, 0)
    gold = gold_counts(stack.settings.database.url, tenant.pipeline_id)
    assert all(gold[day][0] == gold[day][1] > 0 for day in (first, middle, last))

    listed, cursor = await backfills.list_backfills(service, principal, pipeline_id=pipeline_id, limit=1)
    assert [view["backfill_id"] for view in listed] == [forced["backfill_id"]] and cursor
    rest, _ = await backfills.list_backfills(service, principal, pipeline_id=pipeline_id, cursor=cursor)
    assert [view["backfill_id"] for view in rest] == [plain["backfill_id"]]
    stranger = await scoped_tenant(stack.settings.database.url, scope)
    with pytest.raises(NotFoundError):
        await backfills.get_backfill(service, principal_of(stranger), UUID(plain["backfill_id"]))
    assert (await backfills.list_backfills(service, principal_of(stranger)))[0] == []


async def test_pause_holds_new_partitions_resume_goes_on_cancel_stops_the_running_ones(
        stack, service, dsp_sandbox, advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(report_delay_s=1)  # each partition waits one poll (5 s) for its report
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    principal = principal_of(tenant)
    created = await backfills.create_backfill(service, principal, pipeline_id=UUID(tenant.pipeline_id),
                                              start=date(2024, 5, 1), end=date(2024, 5, 12), parallelism=2)
    backfill_id = UUID(created["backfill_id"])
    await wait_backfill(service, created["backfill_id"], timeout_s=20,
                        check=lambda view: view["progress"]["running"] == 2)

    paused = await backfills.pause_backfill(service, principal, backfill_id)
    assert paused["status"] == "paused"
    # The two running partitions finish; nothing new starts.
    drained = await wait_backfill(service, created["backfill_id"], timeout_s=30,
                                  check=lambda view: view["progress"]["running"] == 0)
    assert (drained["status"], drained["progress"]["done"], drained["progress"]["remaining"]) == ("paused", 2, 10)
    assert await executions_by_status(service, created["backfill_id"]) == {"completed": 2}

    resumed = await backfills.resume_backfill(service, principal, backfill_id)
    assert resumed["status"] == "running"
    await wait_backfill(service, created["backfill_id"], timeout_s=20,
                        check=lambda view: view["progress"]["running"] == 2)
    cancelling = await backfills.cancel_backfill(service, principal, backfill_id)
    assert cancelling["status"] in ("cancelling", "cancelled")
    cancelled = await wait_backfill(service, created["backfill_id"], timeout_s=30)
    await scope.forget()
    assert cancelled["status"] == "cancelled"
    assert (cancelled["progress"]["done"], cancelled["progress"]["cancelled"]) == (2, 2)
    # The two running children marked their executions cancelled; the rest never got one.
    assert await executions_by_status(service, created["backfill_id"]) == {"completed": 2, "cancelled": 2}
    async with service.engine.connect() as conn:
        live = (await conn.execute(select(func.count()).select_from(etl_executions).where(
            etl_executions.c.backfill_id == backfill_id, etl_executions.c.status.in_(("scheduled", "running")))
        )).scalar_one()
    assert live == 0
    with pytest.raises(ConflictError):
        await backfills.pause_backfill(service, principal, backfill_id)
    # The history (updates, child cancellations) replays deterministically with today's code.
    history = await service.require_temporal().get_workflow_handle(cancelled["workflow_id"]).fetch_history()
    await Replayer(workflows=[BackfillWorkflow], data_converter=pydantic_data_converter,
                   workflow_runner=SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default
                                                           .with_passthrough_modules(*PASSTHROUGH_MODULES))
                   ).replay_workflow(history)
