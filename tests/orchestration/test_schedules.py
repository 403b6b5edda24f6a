"""Pipeline schedules: Temporal Schedules mirrored in the pipelines row, firing for the logical date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.service import RPCError

from etl_orchestrator.db.models import etl_executions, pipelines
from etl_orchestrator.domain.errors import ConflictError, NotFoundError, ValidationFailed
from etl_orchestrator.service import schedules
from tests.orchestration.helpers import principal_of, scoped_tenant, wait_execution, wait_until
from tests.sandbox.scripting import SandboxScope
from tests.support import Tenant

TOKYO = "Asia/Tokyo"


# ------------------------------------------------------------------------------------------ pure logic


@pytest.mark.parametrize(("fired_utc", "zone", "logical"), [
    # 06:00 in Tokyo is 21:00 UTC the day before: the logical date is Tokyo's, not UTC's.
    (datetime(2024, 7, 1, 21, 0, tzinfo=UTC), TOKYO, date(2024, 7, 2)),
    # 06:00 in Los Angeles (summer time) is 13:00 UTC the same day.
    (datetime(2024, 7, 2, 13, 0, tzinfo=UTC), "America/Los_Angeles", date(2024, 7, 2)),
    (datetime(2024, 7, 2, 6, 0, tzinfo=UTC), "UTC", date(2024, 7, 2)),
])
def test_a_fire_processes_yesterday_of_its_own_time_zone_plus_the_restatement_window(fired_utc, zone, logical):
    assert schedules.logical_range(fired_utc, zone, 0) == (logical, logical - timedelta(days=1),
                                                           logical - timedelta(days=1))
    assert schedules.logical_range(fired_utc, zone, 7) == (logical, logical - timedelta(days=8),
                                                           logical - timedelta(days=1))


@pytest.mark.parametrize(("cron", "zone", "field"), [
    ("0 6 * *", "UTC", "schedule_cron"),
    ("61 6 * * *", "UTC", "schedule_cron"),
    ("0 6 * * MON-XYZ", "UTC", "schedule_cron"),
    ("*/0 * * * *", "UTC", "schedule_cron"),
    ("@sometimes", "UTC", "schedule_cron"),
    ("0 6 * * *", "Mars/Olympus_Mons", "schedule_timezone"),
    ("0 6 * * *", "", "schedule_timezone"),
])
def test_a_bad_cron_or_time_zone_names_the_field(cron, zone, field):
    with pytest.raises(ValidationFailed) as caught:
        schedules.validate_schedule(cron, zone)
    assert caught.value.field == field


@pytest.mark.parametrize("cron", ["0 6 * * *", "*/15 0-6,22 1,15 JAN-MAR mon-fri", "30 2 ? * 7", "@daily", None])
def test_good_crons_pass(cron):
    schedules.validate_schedule(cron, "Europe/Berlin")


# ------------------------------------------------------------------------------------------ live


async def schedule_pipeline(service, tenant: Tenant, *, cron: str = "0 6 * * *", zone: str = TOKYO,
                            restatement_days: int = 0) -> dict[str, Any]:
    async with service.engine.begin() as conn:
        row = (await conn.execute(update(pipelines).where(pipelines.c.id == UUID(tenant.pipeline_id)).values(
            schedule_cron=cron, schedule_timezone=zone, restatement_days=restatement_days,
        ).returning(pipelines))).mappings().one()
    return dict(row)


async def pipeline_row(service, tenant: Tenant) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        return dict((await conn.execute(select(pipelines).where(pipelines.c.id == UUID(tenant.pipeline_id)))
                     ).mappings().one())


async def scheduled_executions(service, tenant: Tenant) -> list[dict[str, Any]]:
    async with service.engine.connect() as conn:
        rows = (await conn.execute(select(etl_executions).where(
            etl_executions.c.pipeline_id == UUID(tenant.pipeline_id), etl_executions.c.trigger == "schedule")
            .order_by(etl_executions.c.date_start))).mappings().all()
    return [dict(row) for row in rows]


async def test_applying_a_schedule_mirrors_it_and_a_fire_runs_the_logical_dates_range(
        stack, service, dsp_sandbox, advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    row = await schedule_pipeline(service, tenant, restatement_days=1)
    view = await schedules.apply_pipeline_schedule(service, row)
    assert view["schedule_id"] == f"pipeline-schedule:{tenant.pipeline_id}"
    assert view["state"] == "active" and view["overlap"] == "skip" and view["catchup_window_s"] == 3600
    assert view["cron"] == "0 6 * * *" and view["timezone"] == TOKYO
    # 06:00 in Tokyo is 21:00 UTC.
    assert view["next_runs"] and all(run.endswith("T21:00:00Z") for run in view["next_runs"])
    mirrored = await pipeline_row(service, tenant)
    assert (mirrored["schedule_state"], mirrored["schedule_id"]) == ("active", view["schedule_id"])

    fired = await schedules.trigger_schedule_now(service, principal_of(tenant), UUID(tenant.pipeline_id))
    assert fired["triggered_at"]
    [execution] = await wait_until(lambda: scheduled_executions(service, tenant), timeout_s=20,
                                   what="the scheduled execution")
    done = await wait_execution(service.engine, execution["id"])
    assert done["status"] == "completed", done["error"]
    yesterday_in_tokyo = datetime.now(ZoneInfo(TOKYO)).date() - timedelta(days=1)
    # Yesterday in the pipeline's zone, and the one restatement day before it.
    assert (done["date_start"], done["date_end"]) == (yesterday_in_tokyo - timedelta(days=1), yesterday_in_tokyo)
    described = await schedules.describe_schedule(service, principal_of(tenant), UUID(tenant.pipeline_id))
    assert len(described["recent_runs"]) == 1 and described["recent_runs"][0]["workflow_id"].startswith(
        f"scheduled:{tenant.pipeline_id}")
    assert (await pipeline_row(service, tenant))["last_scheduled_at"] is not None
    await schedules.remove_pipeline_schedule(service, UUID(tenant.pipeline_id))


async def test_catching_up_runs_each_missed_fire_for_its_own_logical_date(stack, service, dsp_sandbox, advertiser):
    """Temporal's schedule backfill stands in for "the server was down for three days"."""
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    await schedules.apply_pipeline_schedule(service, await schedule_pipeline(service, tenant))
    handle = service.require_temporal().get_schedule_handle(schedules.schedule_id_of(tenant.pipeline_id))
    # Fires at 21:00 UTC on July 1, 2, 3 = 06:00 in Tokyo on July 2, 3, 4.
    await handle.backfill(ScheduleBackfill(start_at=datetime(2024, 7, 1, tzinfo=UTC),
                                           end_at=datetime(2024, 7, 3, 23, 59, tzinfo=UTC),
                                           overlap=ScheduleOverlapPolicy.ALLOW_ALL))

    async def three():
        rows = await scheduled_executions(service, tenant)
        return rows if len(rows) == 3 else None

    runs = await wait_until(three, timeout_s=20, what="three scheduled executions")
    finished = [await wait_execution(service.engine, run["id"]) for run in runs]
    assert [(run["date_start"], run["date_end"]) for run in finished] == [
        (date(2024, 7, day), date(2024, 7, day)) for day in (1, 2, 3)]
    assert {run["status"] for run in finished} == {"completed"}
    mirrored = await pipeline_row(service, tenant)
    assert mirrored["last_scheduled_at"] == datetime(2024, 7, 3, 21, 0)
    await schedules.remove_pipeline_schedule(service, UUID(tenant.pipeline_id))


async def test_a_fire_while_the_last_run_still_works_is_skipped_and_counted(stack, service, dsp_sandbox,
                                                                           advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(report_delay_s=3)  # the first run waits for its report: it is still running
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    await schedules.apply_pipeline_schedule(service, await schedule_pipeline(service, tenant))
    principal = principal_of(tenant)
    await schedules.trigger_schedule_now(service, principal, UUID(tenant.pipeline_id))

    async def running():
        return (await schedules.describe_schedule(service, principal, UUID(tenant.pipeline_id)))["running"]

    await wait_until(running, timeout_s=10, what="the first scheduled run")
    second = await schedules.trigger_schedule_now(service, principal, UUID(tenant.pipeline_id))

    async def skipped():
        view = await schedules.describe_schedule(service, principal, UUID(tenant.pipeline_id))
        return view if view["skipped_runs"] == 1 else None

    view = await wait_until(skipped, timeout_s=10, what="the skipped fire counted")
    assert len(view["recent_runs"]) == 1 and second["triggered_at"]
    assert (await pipeline_row(service, tenant))["skipped_runs"] == 1
    [execution] = await scheduled_executions(service, tenant)
    assert (await wait_execution(service.engine, execution["id"]))["status"] == "completed"
    await scope.forget()
    await schedules.remove_pipeline_schedule(service, UUID(tenant.pipeline_id))


async def test_pause_resume_disable_and_delete_are_mirrored_in_the_pipeline_row(stack, service, dsp_sandbox):
    scope = SandboxScope.fresh(dsp_sandbox)
    tenant = await scoped_tenant(stack.settings.database.url, scope)
    other = await scoped_tenant(stack.settings.database.url, scope)
    pipeline_id = UUID(tenant.pipeline_id)
    principal = principal_of(tenant)
    await schedules.apply_pipeline_schedule(service, await schedule_pipeline(service, tenant, zone="UTC"))
    with pytest.raises(NotFoundError):
        await schedules.pause_schedule(service, principal_of(other), pipeline_id)

    paused = await schedules.pause_schedule(service, principal, pipeline_id, note="maintenance window")
    assert (paused["state"], paused["note"]) == ("paused", "maintenance window")
    assert (await pipeline_row(service, tenant))["schedule_state"] == "paused"
    # A user's pause survives a change of the schedule.
    row = await schedule_pipeline(service, tenant, cron="30 5 * * *", zone="UTC")
    assert (await schedules.apply_pipeline_schedule(service, row))["state"] == "paused"
    resumed = await schedules.resume_schedule(service, principal, pipeline_id)
    assert resumed["state"] == "active" and resumed["next_runs"][0].endswith("T05:30:00Z")
    assert (await pipeline_row(service, tenant))["schedule_state"] == "active"

    # Disabling pauses; enabling again resumes (that pause was not a user's).
    disabled = await schedules.apply_pipeline_schedule(service, {**await pipeline_row(service, tenant),
                                                                 "enabled": False})
    assert disabled["state"] == "paused" and disabled["note"] == schedules.DISABLED_NOTE
    with pytest.raises(ConflictError):
        async with service.engine.begin() as conn:
            await conn.execute(update(pipelines).where(pipelines.c.id == pipeline_id).values(enabled=False))
        await schedules.resume_schedule(service, principal, pipeline_id)
    async with service.engine.begin() as conn:
        await conn.execute(update(pipelines).where(pipelines.c.id == pipeline_id).values(enabled=True))
    enabled = await schedules.apply_pipeline_schedule(service, await pipeline_row(service, tenant))
    assert enabled["state"] == "active"

    # No cron: the schedule is deleted in Temporal and the row says so; deleting again is fine.
    row = await schedule_pipeline(service, tenant, cron=None)
    view = await schedules.apply_pipeline_schedule(service, row)
    assert (view["state"], view["schedule_id"]) == ("none", None)
    mirrored = await pipeline_row(service, tenant)
    assert (mirrored["schedule_state"], mirrored["schedule_id"]) == ("none", None)
    with pytest.raises(RPCError):
        await service.require_temporal().get_schedule_handle(schedules.schedule_id_of(pipeline_id)).describe()
    await schedules.remove_pipeline_schedule(service, pipeline_id)
    with pytest.raises(NotFoundError):
        await schedules.pause_schedule(service, principal, pipeline_id)
