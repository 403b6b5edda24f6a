"""Pipeline schedules: one Temporal Schedule per pipeline, mirrored in the ``pipelines`` row.

The schedule (id ``pipeline-schedule:<pipeline_id>``) fires ``ScheduledPipelineWorkflow`` on the
pipeline's cron in the pipeline's time zone, with overlap policy SKIP (a fire while the previous
run still works is skipped and counted) and the pipeline's catch-up window (fires missed while
Temporal was down are run late if they are younger than the window). The scheduled run processes
the *logical* date — the fire's nominal time in the pipeline's zone, not the moment it ran — so a
late or backfilled fire processes the day it was meant for (see ``workflows/schedule.py``).

The row mirrors Temporal: ``schedule_state`` (none | active | paused), ``schedule_id``,
``last_scheduled_at`` and ``skipped_runs`` are refreshed whenever a schedule is applied or
described, and by every scheduled run. A pause of a pipeline that is *disabled* is not sticky:
enabling the pipeline again resumes it; a pause a user asked for is kept until resumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio.client import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.activities.contracts import ETLInput
from etl_orchestrator.activities.orchestration_contracts import (
    ORG_ID,
    PIPELINE_ID,
    PreparedExecution,
    PrepareScheduledRunInput,
    ScheduledRunInput,
)
from etl_orchestrator.db.execution_store import LIVE_STATUSES
from etl_orchestrator.db.models import etl_executions, pipelines
from etl_orchestrator.domain.errors import (
    ConflictError,
    EtlError,
    NetworkError,
    NotFoundError,
    ValidationFailed,
)
from etl_orchestrator.service.backfills import execution_row, iso_utc
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.executions import etl_workflow_id, run_options
from etl_orchestrator.service.organizations import get_visible_pipeline

SCHEDULED_WORKFLOW = "ScheduledPipelineWorkflow"
DISABLED_NOTE = "pipeline disabled"
NEXT_RUNS = 5
MIN_CATCHUP_WINDOW_S = 10
# Fixed namespace of the uuid5 execution ids of scheduled runs (one per fire's workflow id).
_SCHEDULED_NAMESPACE = UUID("0b7e4f5c-8d2a-4c61-b3f9-5e1a7c9d2e44")

_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# (name, lowest, highest, symbolic names) of the five fields of a standard cron expression.
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),  # 0 and 7 are both Sunday
)
_ITEM = re.compile(r"^(?P<base>\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")


def schedule_id_of(pipeline_id: UUID | str) -> str:
    return f"pipeline-schedule:{pipeline_id}"


# ------------------------------------------------------------------------------------------ validation


def _cron_value(token: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(token.upper()) if not token.isdigit() else int(token)
    if value is None:
        raise ValidationFailed("schedule_cron", f"{token!r} is not a valid {field}")
    if not low <= value <= high:
        raise ValidationFailed("schedule_cron", f"{field} {value} is outside {low}-{high}")
    return value


def _validate_cron_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> None:
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValidationFailed("schedule_cron", f"{item!r} is not a valid {field} item")
        if match["step"] is not None and int(match["step"]) == 0:
            raise ValidationFailed("schedule_cron", f"step 0 in {field} {item!r}")
        base = match["base"]
        if base == "?" and field not in ("day of month", "day of week"):
            raise ValidationFailed("schedule_cron", "'?' is only allowed in day of month or day of week")
        if base in ("*", "?"):
            continue
        first, _, last = base.partition("-")
        start = _cron_value(first, field, low, high, names)
        end = _cron_value(last, field, low, high, names) if last else start
        if end < start:
            raise ValidationFailed("schedule_cron", f"{field} range {base!r} runs backwards")


def validate_schedule(cron: str | None, timezone: str) -> None:
    """Check a cron expression (5 fields or a macro such as ``@daily``; None = no schedule) and an IANA zone."""
    if cron is not None:
        text = cron.strip()
        if not text:
            raise ValidationFailed("schedule_cron", "empty cron expression (use null for no schedule)")
        if text.startswith("@"):
            if text.lower() not in _MACROS:
                raise ValidationFailed("schedule_cron",
                                       f"unknown macro {text!r}; known: {', '.join(sorted(_MACROS))}")
        else:
            fields = text.split()
            if len(fields) != len(_CRON_FIELDS):
                raise ValidationFailed("schedule_cron", f"expected 5 fields (minute hour day-of-month month "
                                                        f"day-of-week), got {len(fields)}: {cron!r}")
            for value, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
                _validate_cron_field(value, field, low, high, names)
    try:
        if not timezone or timezone != timezone.strip():
            raise ValueError(timezone)
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationFailed("schedule_timezone", f"unknown time zone {timezone!r} (use an IANA name such as "
                                                    f"'Europe/Berlin' or 'UTC')") from None


# ------------------------------------------------------------------------------------------ helpers


def _translate(exc: RPCError, field: str = "schedule_cron") -> EtlError:
    """The one mapping from Temporal's schedule RPC errors to the domain's."""
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return ValidationFailed(field, exc.message)
    if exc.status == RPCStatusCode.NOT_FOUND:
        return NotFoundError("schedule not found")
    return NetworkError(f"Temporal refused the schedule operation: {exc.message}")


def _schedule_of(ctx: ServiceContext, pipeline: dict[str, Any], *, paused: bool, note: str) -> Schedule:
    pipeline_id = pipeline["id"]
    schedule_id = schedule_id_of(pipeline_id)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SCHEDULED_WORKFLOW,
            ScheduledRunInput(pipeline_id=pipeline_id, org_id=pipeline["org_id"], schedule_id=schedule_id),
            # The server appends the nominal fire time, so every fire has its own workflow id.
            id=f"scheduled:{pipeline_id}",
            task_queue=ctx.settings.etl.temporal.task_queue,
            typed_search_attributes=TypedSearchAttributes([
                SearchAttributePair(ORG_ID, str(pipeline["org_id"])),
                SearchAttributePair(PIPELINE_ID, str(pipeline_id)),
            ]),
        ),
        spec=ScheduleSpec(cron_expressions=[pipeline["schedule_cron"].strip()],
                          time_zone_name=pipeline["schedule_timezone"]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(
            # Temporal reads 0 as "the default, one year" and refuses under 10 s: 0 means "no catch-up".
            seconds=max(int(pipeline["catchup_window_s"]), MIN_CATCHUP_WINDOW_S))),
        state=ScheduleState(paused=paused, note=note),
    )


async def _load_pipeline(ctx: ServiceContext, pipeline_id: UUID) -> dict[str, Any] | None:
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id))).mappings().first()
    return dict(row) if row else None


async def _mirror(ctx: ServiceContext, pipeline_id: UUID, **values: Any) -> dict[str, Any] | None:
    """Write schedule columns of the row (only those that changed) and return the fresh row."""
    async with ctx.engine.begin() as conn:
        row = (await conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id).with_for_update())
               ).mappings().first()
        if row is None:
            return None
        changed = {key: value for key, value in values.items() if row[key] != value}
        if changed:
            await conn.execute(update(pipelines).where(pipelines.c.id == pipeline_id).values(
                **changed, updated_at=datetime.now(UTC).replace(tzinfo=None)))
            return {**dict(row), **changed}
        return dict(row)


def _recent_runs(actions: Iterable[Any]) -> list[dict[str, Any]]:
    runs = []
    for result in actions:
        action = result.action
        runs.append({
            "scheduled_at": iso_utc(result.scheduled_at),
            "started_at": iso_utc(result.started_at),
            "workflow_id": (action.workflow_id if isinstance(action, ScheduleActionExecutionStartWorkflow)
                            else None),
        })
    return runs


def _view(pipeline: dict[str, Any], description: ScheduleDescription | None = None) -> dict[str, Any]:
    """The schedule as the API shows it (``state`` none when the pipeline has no schedule)."""
    view: dict[str, Any] = {
        "pipeline_id": str(pipeline["id"]),
        "schedule_id": pipeline["schedule_id"],
        "state": pipeline["schedule_state"],
        "cron": pipeline["schedule_cron"],
        "timezone": pipeline["schedule_timezone"],
        "catchup_window_s": pipeline["catchup_window_s"],
        "overlap": "skip",
        "note": None,
        "next_runs": [],
        "recent_runs": [],
        "running": [],
        "skipped_runs": pipeline["skipped_runs"],
        "last_scheduled_at": iso_utc(pipeline["last_scheduled_at"]),
    }
    if description is not None:
        schedule, info = description.schedule, description.info
        view.update({
            "overlap": schedule.policy.overlap.name.lower(),
            "catchup_window_s": int(schedule.policy.catchup_window.total_seconds()),
            "note": schedule.state.note or None,
            "next_runs": [iso_utc(moment) for moment in info.next_action_times[:NEXT_RUNS]],
            "recent_runs": _recent_runs(info.recent_actions),
            "running": [action.workflow_id for action in info.running_actions],
        })
    return view


def _mirrored_state(description: ScheduleDescription) -> dict[str, Any]:
    info = description.info
    fired = [result.scheduled_at for result in info.recent_actions]
    values: dict[str, Any] = {
        "schedule_state": "paused" if description.schedule.state.paused else "active",
        "skipped_runs": info.num_actions_skipped_overlap,
    }
    if fired:
        values["last_scheduled_at"] = max(fired).astimezone(UTC).replace(tzinfo=None)
    return values


async def _describe(ctx: ServiceContext, pipeline_id: UUID) -> ScheduleDescription | None:
    try:
        return await ctx.require_temporal().get_schedule_handle(schedule_id_of(pipeline_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise _translate(exc) from exc


async def refresh_schedule_mirror(ctx: ServiceContext, pipeline_id: UUID) -> dict[str, Any] | None:
    """Copy the Temporal Schedule's state, skipped-run count and last fire into the row; the fresh row."""
    description = await _describe(ctx, pipeline_id)
    if description is None:
        return await _load_pipeline(ctx, pipeline_id)
    return await _mirror(ctx, pipeline_id, **_mirrored_state(description))


# ------------------------------------------------------------------------------------------ operations


async def apply_pipeline_schedule(ctx: ServiceContext, pipeline: dict[str, Any]) -> dict[str, Any]:
    """Make the Temporal Schedule match the pipeline row; update the row's mirror; the schedule view.

    No ``schedule_cron``: the schedule is deleted. ``enabled`` false: it exists, paused. A pause a
    user asked for (``schedule_state`` paused with another note) survives a change of cron or zone.
    """
    pipeline_id = pipeline["id"]
    cron = pipeline.get("schedule_cron")
    timezone = pipeline.get("schedule_timezone") or "UTC"
    if not cron:
        await remove_pipeline_schedule(ctx, pipeline_id)
        row = await _load_pipeline(ctx, pipeline_id) or {**pipeline, "schedule_state": "none", "schedule_id": None}
        return _view(row)
    validate_schedule(cron, timezone)
    client = ctx.require_temporal()
    schedule_id = schedule_id_of(pipeline_id)
    enabled = pipeline.get("enabled", True)
    existing = await _describe(ctx, pipeline_id)
    if existing is not None:
        user_paused = existing.schedule.state.paused and existing.schedule.state.note != DISABLED_NOTE
        pause_note = existing.schedule.state.note
    else:  # re-created (Temporal lost it): the row remembers a pause
        user_paused = pipeline.get("schedule_state") == "paused" and enabled
        pause_note = "paused by a user"
    if not enabled:
        paused, note = True, DISABLED_NOTE
    elif user_paused:
        paused, note = True, pause_note
    else:
        paused, note = False, "active"
    schedule = _schedule_of(ctx, {**pipeline, "schedule_timezone": timezone}, paused=paused, note=note)
    try:
        if existing is None:
            try:
                await client.create_schedule(schedule_id, schedule)
            except ScheduleAlreadyRunningError:  # created concurrently: converge by updating it
                await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        else:
            await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
    except RPCError as exc:
        raise _translate(exc) from exc
    row = await _mirror(ctx, pipeline_id, schedule_id=schedule_id, schedule_state="paused" if paused else "active")
    if row is None:  # the pipeline was deleted meanwhile: leave no orphan schedule
        await remove_pipeline_schedule(ctx, pipeline_id)
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    row = await refresh_schedule_mirror(ctx, pipeline_id) or row
    return _view(row, await _describe(ctx, pipeline_id))


async def remove_pipeline_schedule(ctx: ServiceContext, pipeline_id: UUID) -> None:
    """Delete the pipeline's schedule (if any) and clear the row's mirror. Idempotent."""
    try:
        await ctx.require_temporal().get_schedule_handle(schedule_id_of(pipeline_id)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise _translate(exc) from exc
    await _mirror(ctx, pipeline_id, schedule_state="none", schedule_id=None)


async def _scheduled_pipeline(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    """The visible pipeline, with its Temporal Schedule present (re-created if Temporal lost it)."""
    pipeline = await get_visible_pipeline(ctx, principal, pipeline_id)
    if not pipeline["schedule_cron"]:
        raise NotFoundError("schedule not found: the pipeline has no schedule_cron", pipeline_id=pipeline_id)
    if await _describe(ctx, pipeline_id) is None:
        await apply_pipeline_schedule(ctx, pipeline)
    return pipeline


async def pause_schedule(ctx: ServiceContext, principal: Principal, pipeline_id: UUID, *,
                         note: str | None = None) -> dict[str, Any]:
    await _scheduled_pipeline(ctx, principal, pipeline_id)
    try:
        await ctx.require_temporal().get_schedule_handle(schedule_id_of(pipeline_id)).pause(
            note=note or "paused by a user")
    except RPCError as exc:
        raise _translate(exc) from exc
    return await describe_schedule(ctx, principal, pipeline_id)


async def resume_schedule(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    pipeline = await _scheduled_pipeline(ctx, principal, pipeline_id)
    if not pipeline["enabled"]:
        raise ConflictError("the pipeline is disabled; enable it to resume its schedule", pipeline_id=pipeline_id)
    try:
        await ctx.require_temporal().get_schedule_handle(schedule_id_of(pipeline_id)).unpause(note="resumed")
    except RPCError as exc:
        raise _translate(exc) from exc
    return await describe_schedule(ctx, principal, pipeline_id)


async def trigger_schedule_now(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    """Fire the schedule once now (overlap policy applies: skipped if a run is still going)."""
    await _scheduled_pipeline(ctx, principal, pipeline_id)
    triggered_at = datetime.now(UTC)
    try:
        await ctx.require_temporal().get_schedule_handle(schedule_id_of(pipeline_id)).trigger()
    except RPCError as exc:
        raise _translate(exc) from exc
    return {**await describe_schedule(ctx, principal, pipeline_id), "triggered_at": iso_utc(triggered_at)}


async def describe_schedule(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    """The schedule view, fresh from Temporal; the row's mirror is refreshed on the way."""
    pipeline = await get_visible_pipeline(ctx, principal, pipeline_id)
    if not pipeline["schedule_cron"]:
        return _view(pipeline)
    description = await _describe(ctx, pipeline_id)
    if description is None:  # Temporal lost it (e.g. a wiped dev server): re-create it from the row
        return await apply_pipeline_schedule(ctx, pipeline)
    row = await _mirror(ctx, pipeline_id, **_mirrored_state(description)) or pipeline
    return _view(row, description)


# ------------------------------------------------------------------------------------------ scheduled runs


def logical_range(scheduled_at: datetime, timezone: str, restatement_days: int) -> tuple[date, date, date]:
    """(logical date, first date, last date) a fire at ``scheduled_at`` processes.

    The logical date is the fire's *nominal* time read in the pipeline's zone: a daily 06:00 run
    in Asia/Tokyo fires at 21:00 UTC the day before, and must still process Tokyo's yesterday.
    The run processes the last complete day (logical − 1) and the ``restatement_days`` before it,
    which the source may still have changed.
    """
    logical = scheduled_at.astimezone(ZoneInfo(timezone)).date()
    last = logical - timedelta(days=1)
    return logical, last - timedelta(days=restatement_days), last


async def prepare_scheduled_run(ctx: ServiceContext, params: PrepareScheduledRunInput) -> PreparedExecution:
    """Record the execution of one fire (id derived from the run's workflow id: safe to retry).

    Returns no ``params`` when another live execution already covers the same range (a manual
    trigger of it is running): that one serves this fire. The row's mirror gets the fire time and
    Temporal's count of skipped fires.
    """
    pipeline = await _load_pipeline(ctx, params.pipeline_id)
    if pipeline is None:
        raise NotFoundError("pipeline not found", pipeline_id=params.pipeline_id)
    logical, start, end = logical_range(params.scheduled_at, pipeline["schedule_timezone"],
                                        pipeline["restatement_days"])
    workflow_id = etl_workflow_id(params.pipeline_id, start, end)
    execution_id = uuid5(_SCHEDULED_NAMESPACE, params.run_workflow_id)
    async with ctx.engine.begin() as conn:
        inserted = (await conn.execute(
            pg_insert(etl_executions).values(**execution_row(
                execution_id=execution_id, pipeline_id=params.pipeline_id, org_id=pipeline["org_id"],
                workflow_id=workflow_id, start=start, end=end, force=False, trigger="schedule"))
            .on_conflict_do_nothing().returning(etl_executions.c.id))).scalar()
        if inserted is None:
            mine = (await conn.execute(select(etl_executions.c.status)
                                       .where(etl_executions.c.id == execution_id))).scalar()
            if mine is None:  # the live-range index refused it: another execution of the range is running
                live = (await conn.execute(select(etl_executions.c.id).where(
                    etl_executions.c.workflow_id == workflow_id, etl_executions.c.status.in_(LIVE_STATUSES)))
                ).scalar()
                await _record_fire(ctx, params)
                return PreparedExecution(logical_date=logical, execution_id=live, workflow_id=workflow_id,
                                         reason=f"execution {live} of {start}..{end} is already running")
    await _record_fire(ctx, params)
    etl = ETLInput(execution_id=execution_id, org_id=pipeline["org_id"], pipeline_id=params.pipeline_id,
                   start=start, end=end, force=False, options=run_options(ctx.settings))
    return PreparedExecution(logical_date=logical, execution_id=execution_id, workflow_id=workflow_id, params=etl)


async def _record_fire(ctx: ServiceContext, params: PrepareScheduledRunInput) -> None:
    fired = params.scheduled_at.astimezone(UTC).replace(tzinfo=None)
    async with ctx.engine.begin() as conn:
        # GREATEST: a catch-up of older fires must not move last_scheduled_at backwards.
        await conn.execute(update(pipelines).where(pipelines.c.id == params.pipeline_id).values(
            last_scheduled_at=func.greatest(func.coalesce(pipelines.c.last_scheduled_at, fired), fired)))
    description = await _describe(ctx, params.pipeline_id)
    if description is not None:
        await _mirror(ctx, params.pipeline_id, skipped_runs=description.info.num_actions_skipped_overlap)
