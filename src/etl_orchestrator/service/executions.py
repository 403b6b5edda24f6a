"""Executions: trigger (idempotent), list (keyset pages from PostgreSQL), get, logs, cancel, retry, watch.

Triggers are idempotent through two guards: the workflow id is deterministic from pipeline and
range, and a partial unique index allows one live (scheduled/running) execution per workflow id,
so concurrent identical triggers all get the one execution. The listing never asks Temporal.

Retry re-runs a failed or cancelled execution's whole range with ``force`` (partitions are replaced
atomically, so re-running the ones that had completed is safe and keeps one execution per range).
Watching follows the process's ``ExecutionFeed`` (PostgreSQL LISTEN), never a poll of Temporal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb
from sqlalchemy import Integer, Select, any_, select
from sqlalchemy.dialects.postgresql import array
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.activities.contracts import ETLInput, RunOptions
from etl_orchestrator.config import Settings
from etl_orchestrator.db.execution_store import LIVE_STATUSES, aggregate_layers, close_execution
from etl_orchestrator.db.models import etl_executions, execution_logs, pipelines
from etl_orchestrator.domain.enums import ExecutionStatus, Layer, LayerStatus
from etl_orchestrator.domain.errors import ConflictError, NetworkError, NotFoundError, ValidationFailed
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.pagination import after, page_of
from etl_orchestrator.service.workflow_starts import (
    INSERT_PENDING_START,
    cancel_pending_start,
    pending_start_values,
)


@dataclass(frozen=True)
class TriggerResult:
    execution_id: UUID
    status: str
    estimated_start: datetime
    created: bool


def etl_workflow_id(pipeline_id: UUID, start: date, end: date, mode: str = "full") -> str:
    prefix = "etl" if mode == "full" else f"etl-{mode}"
    return f"{prefix}:{pipeline_id}:{start.isoformat()}:{end.isoformat()}"


def run_options(settings: Settings, *, task_queue: str | None = None) -> RunOptions:
    etl = settings.etl
    return RunOptions(
        task_queue=task_queue or etl.temporal.task_queue, activity_timeout=etl.workers.activity_timeout,
        heartbeat_timeout=etl.workers.heartbeat_timeout, short_timeout=etl.workers.short_activity_timeout,
        retry=etl.retry, poll_initial=etl.ingestion.poll_initial,
        poll_max=etl.ingestion.poll_max, report_timeout=etl.ingestion.report_timeout,
        partition_parallelism=etl.workers.partition_parallelism,
    )


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def validate_range(settings: Settings, start: date, end: date, field: str = "parameters.date_range") -> None:
    if start > end:
        raise ValidationFailed(f"{field}.end", f"end ({end}) is before start ({start})")
    days = (end - start).days + 1
    limit = settings.etl.ingestion.max_range_days
    if days > limit:
        raise ValidationFailed(field, f"the range spans {days} days; at most {limit} are allowed (use a backfill)")


async def _live_execution(conn, workflow_id: str) -> Any:
    return (await conn.execute(
        select(etl_executions.c.id, etl_executions.c.status)
        .where(etl_executions.c.workflow_id == workflow_id, etl_executions.c.status.in_(LIVE_STATUSES))
    )).first()


# One statement, one round trip, on the lean pool: the pipeline if the caller may see it; the live
# execution of the range, else (unless forced) its completed one when every partition is completed,
# else a new execution and its pending workflow start (with the pipeline's organization in the
# workflow's input). The partial unique index on live workflow ids settles concurrent identical
# triggers: the loser inserts nothing, and sees only ``visible`` (the winner committed after this
# statement's snapshot).
TRIGGER_SQL = f"""
    WITH pipeline AS (
        SELECT id, org_id FROM pipelines
        WHERE id = %(pipeline_id)s AND (%(is_admin)s OR org_id = %(caller_org_id)s)
    ), live AS (
        SELECT e.id, e.status FROM etl_executions e, pipeline
        WHERE e.workflow_id = %(workflow_id)s AND e.status IN ('scheduled', 'running')
        LIMIT 1
    ), done AS (
        -- Uncorrelated conditions first: PostgreSQL checks them once and, unless every partition is
        -- completed, never reads etl_executions (idx_executions_completed_workflow when it does).
        SELECT e.id, e.status FROM etl_executions e
        WHERE NOT %(force)s AND EXISTS (SELECT FROM pipeline)
          AND (SELECT count(*) FROM partitions p
               WHERE p.pipeline_id = %(pipeline_id)s AND p.date BETWEEN %(date_start)s AND %(date_end)s
                 AND p.status = 'completed') >= %(days)s
          AND e.workflow_id = %(workflow_id)s AND e.status = 'completed'
        ORDER BY e.completed_at DESC
        LIMIT 1
    ), inserted AS (
        INSERT INTO etl_executions (id, pipeline_id, org_id, status, workflow_id, trigger, date_start, date_end,
                                    force, backfill_id, config, result, started_at)
        SELECT %(id)s, pipeline.id, pipeline.org_id, 'scheduled', %(workflow_id)s, %(trigger)s, %(date_start)s,
               %(date_end)s, %(force)s, %(backfill_id)s, %(config)s, %(result)s, %(started_at)s
        FROM pipeline
        WHERE NOT EXISTS (SELECT FROM live) AND NOT EXISTS (SELECT FROM done)
        ON CONFLICT (workflow_id) WHERE status IN ('scheduled', 'running') DO NOTHING
        RETURNING id, status, org_id
    ), start AS ({INSERT_PENDING_START})
    SELECT 'created', id, status FROM inserted
    UNION ALL SELECT 'live', id, status FROM live
    UNION ALL SELECT 'done', id, status FROM done
    UNION ALL SELECT 'visible', NULL, NULL FROM pipeline
"""


async def trigger_execution(ctx: ServiceContext, principal: Principal, *, pipeline_id: UUID,
                            start: date | None = None, end: date | None = None, force: bool = False,
                            trigger: str = "manual", task_queue: str | None = None,
                            backfill_id: UUID | None = None, mode: str = "full") -> TriggerResult:
    """Record (or find) the execution of ``pipeline_id`` over ``start..end``; its workflow starts next.

    A new execution and its workflow start are committed together; the process's ``WorkflowStarter``
    starts the workflow right after the answer (``service/workflow_starts.py``), and another process
    does if this one dies first. ``mode="replay"`` re-judges the range's quarantined rows with the
    pipeline's current rules and rebuilds Silver and Gold from them, without asking the source again.
    """
    start = start or yesterday()
    end = end or start
    validate_range(ctx.settings, start, end)
    if mode not in ("full", "replay"):
        raise ValidationFailed("mode", f"unknown mode {mode!r}")
    if mode == "replay":
        force = True  # a replay always reprocesses
    starter = ctx.workflow_starter()
    workflow_id = etl_workflow_id(pipeline_id, start, end, mode)
    now = datetime.now(UTC)
    execution_id = uuid4()
    # The organization is the pipeline's: the statement puts it in (``org_id`` 0 is only a placeholder).
    params = ETLInput(execution_id=execution_id, org_id=0, pipeline_id=pipeline_id, start=start, end=end,
                      force=force, mode=mode, options=run_options(ctx.settings, task_queue=task_queue))
    days = (end - start).days + 1
    rows = await ctx.lean_fetch(TRIGGER_SQL, {
        "pipeline_id": pipeline_id, "is_admin": principal.is_admin, "caller_org_id": principal.org_id,
        "id": execution_id, "workflow_id": workflow_id, "trigger": trigger, "date_start": start, "date_end": end,
        "force": force, "backfill_id": backfill_id, "days": days,
        "config": Jsonb({"date_range": {"start": start.isoformat(), "end": end.isoformat()}, "force": force,
                         "mode": mode}),
        "result": Jsonb({"layers": aggregate_layers({}, days), "partitions": {}}),
        "started_at": now.replace(tzinfo=None), **pending_start_values(params, workflow_id=workflow_id),
    })
    found = {kind: (row_id, status) for kind, row_id, status in rows}
    if "visible" not in found:
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    if "created" in found:
        starter.submit(execution_id)
        return TriggerResult(execution_id, ExecutionStatus.SCHEDULED.value, starter.estimated_start(now),
                             created=True)
    for kind in ("live", "done"):
        if kind in found:
            return TriggerResult(*found[kind], now, created=False)
    # A concurrent identical trigger won the race: its execution is live now.
    async with ctx.reader.connect() as conn:
        live = await _live_execution(conn, workflow_id)
    if live is None:
        raise ConflictError("a concurrent trigger of this range is being recorded; retry", workflow_id=workflow_id)
    return TriggerResult(live.id, live.status, now, created=False)


# ------------------------------------------------------------------------------------------ reads


@dataclass(frozen=True)
class ExecutionFilter:
    pipeline_id: UUID | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z" if value else None


def execution_view(row: Any) -> dict[str, Any]:
    """One execution in the seed's shape (from a listing row, or a row with the whole ``result``)."""
    layers = row.get("layers") or (row.get("result") or {}).get("layers") or aggregate_layers({}, 1)
    if row["completed_at"] is not None and row["started_at"] is not None:
        total = row["duration_ms"]
    else:
        total = sum(layer.get("duration_ms", 0) for layer in layers.values())
    return {
        "id": str(row["id"]),
        "pipeline_id": str(row["pipeline_id"]),
        "pipeline_name": row["pipeline_name"],
        "status": row["status"],
        "layers": layers,
        "total_duration_ms": total,
        "started_at": _iso(row["started_at"]),
        "completed_at": _iso(row["completed_at"]),
    }


def _execution_columns(*, whole_result: bool = True):
    # A listing needs only the layers: the whole result also holds every partition's outcome, which
    # for a long range is most of the row, and decoding it is most of a listing's cost.
    result = etl_executions.c.result if whole_result else etl_executions.c.result["layers"].label("layers")
    return [etl_executions.c.id, etl_executions.c.pipeline_id, etl_executions.c.org_id, etl_executions.c.status,
            result, etl_executions.c.duration_ms, etl_executions.c.started_at,
            etl_executions.c.completed_at, pipelines.c.name.label("pipeline_name")]


def listing_query(principal: Principal, filters: ExecutionFilter, *, limit: int, cursor: str | None = None) -> Select:
    """The listing's SQL: newest first, ``limit`` rows after the cursor (one more, to know if a page follows).

    An organization's listing is served by ``idx_executions_org_started_id`` (org, started_at desc,
    id desc) whatever the data looks like. Written plainly (``org_id = :org``), the planner often
    prefers the seed's ``idx_executions_started`` plus an incremental sort, filtering other
    organizations' rows as it walks back in time: fine while the organization runs often, slow for
    one whose runs are older than everyone else's. ``org_id = ANY(ARRAY[:org])`` with ``org_id`` in
    the ORDER BY (equal for every row, so the order is the same) leaves the keyset index as the only
    index that returns rows in order, so the planner keeps to it.
    """
    query = (select(*_execution_columns(whole_result=False))
             .join(pipelines, pipelines.c.id == etl_executions.c.pipeline_id))
    conditions = []
    order = [etl_executions.c.started_at.desc(), etl_executions.c.id.desc()]
    if not principal.is_admin:
        conditions.append(etl_executions.c.org_id == any_(array([principal.org_id], type_=Integer)))
        order.insert(0, etl_executions.c.org_id)
    if filters.pipeline_id:
        conditions.append(etl_executions.c.pipeline_id == filters.pipeline_id)
    if filters.status:
        conditions.append(etl_executions.c.status == filters.status)
    if filters.date_from:
        conditions.append(etl_executions.c.started_at >= datetime.combine(filters.date_from, time()))
    if filters.date_to:
        conditions.append(etl_executions.c.started_at < datetime.combine(filters.date_to + timedelta(days=1), time()))
    if cursor:
        conditions.append(after(etl_executions.c.started_at, etl_executions.c.id, cursor))
    return query.where(*conditions).order_by(*order).limit(limit + 1)


async def list_executions(ctx: ServiceContext, principal: Principal, filters: ExecutionFilter, *,
                          limit: int, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationFailed("date_from", f"date_from ({filters.date_from}) is after date_to ({filters.date_to})")
    query = listing_query(principal, filters, limit=limit, cursor=cursor)
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    page, next_cursor = page_of(rows, limit, sort="started_at")
    return [execution_view(row) for row in page], next_cursor


async def get_execution_row(ctx: ServiceContext, principal: Principal, execution_id: UUID) -> dict[str, Any]:
    query = (select(*_execution_columns(), etl_executions.c.error, etl_executions.c.workflow_id,
                    etl_executions.c.date_start, etl_executions.c.date_end, etl_executions.c.trigger,
                    etl_executions.c.progress, etl_executions.c.force, etl_executions.c.layer,
                    etl_executions.c.records_processed, etl_executions.c.records_failed, etl_executions.c.size_bytes,
                    etl_executions.c.config)
             .join(pipelines, pipelines.c.id == etl_executions.c.pipeline_id)
             .where(etl_executions.c.id == execution_id))
    async with ctx.reader.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    if row is None or not principal.can_see(row["org_id"]):
        raise NotFoundError("execution not found", execution_id=execution_id)
    return dict(row)


async def get_execution(ctx: ServiceContext, principal: Principal, execution_id: UUID) -> dict[str, Any]:
    """The seed's execution shape plus the details a single-execution view needs."""
    row = await get_execution_row(ctx, principal, execution_id)
    result = row["result"] or {}
    return {
        **execution_view(row),
        "org_id": row["org_id"],
        "trigger": row["trigger"],
        "date_range": {"start": str(row["date_start"]), "end": str(row["date_end"])},
        "force": row["force"],
        "current_layer": row["layer"],
        "records_processed": row["records_processed"],
        "records_failed": row["records_failed"],
        "size_bytes": row["size_bytes"],
        "error": row["error"],
        "progress": row["progress"],
        "partitions": result.get("partitions") or {},
        "layer_progress": layer_progress(result.get("partitions") or {}, row["date_start"], row["date_end"]),
        "mode": (row["config"] or {}).get("mode", "full"),
    }


_LAYER_DONE = (LayerStatus.COMPLETED.value, LayerStatus.SKIPPED.value, LayerStatus.FAILED.value)


def layer_progress(per_partition: dict[str, Any], start: date | None, end: date | None) -> dict[str, dict[str, int]]:
    """Per layer, how many of the execution's partitions are through it (done) and how many failed there."""
    total = (end - start).days + 1 if start and end else len(per_partition)
    progress = {}
    for layer in Layer:
        statuses = [entry.get(layer.value, {}).get("status") for entry in per_partition.values()
                    if isinstance(entry.get(layer.value), dict)]
        progress[layer.value] = {"done": sum(status in _LAYER_DONE for status in statuses),
                                 "failed": sum(status == LayerStatus.FAILED.value for status in statuses),
                                 "total": total}
    return progress


async def execution_logs_of(ctx: ServiceContext, principal: Principal, execution_id: UUID, *,
                            limit: int = 1000, after_id: int | None = None) -> list[dict[str, Any]]:
    await get_execution_row(ctx, principal, execution_id)
    query = select(execution_logs).where(execution_logs.c.execution_id == execution_id)
    if after_id is not None:
        query = query.where(execution_logs.c.id > after_id)
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(query.order_by(execution_logs.c.id).limit(limit))).mappings().all()
    return [{"timestamp": _iso(row["timestamp"]), "level": row["level"], "layer": row["layer"],
             "message": row["message"]} for row in rows]


async def workflow_status(ctx: ServiceContext, workflow_id: str) -> WorkflowExecutionStatus | None:
    description = await ctx.require_temporal().get_workflow_handle(workflow_id).describe()
    return description.status


# ------------------------------------------------------------------------------------------ control


def is_terminal(status: str) -> bool:
    return ExecutionStatus(status).is_terminal


async def cancel_execution(ctx: ServiceContext, principal: Principal, execution_id: UUID) -> dict[str, Any]:
    """Ask Temporal to cancel the execution's workflow; the workflow marks the execution cancelled.

    An execution no worker has begun is closed here at once: its workflow, when a worker gets to it,
    finds the execution over and does nothing. The same when Temporal no longer has the workflow.
    """
    row = await get_execution_row(ctx, principal, execution_id)
    if is_terminal(row["status"]):
        raise ConflictError(f"the execution is already {row['status']}", execution_id=execution_id)
    if await cancel_pending_start(ctx.engine, execution_id):  # its workflow never started, and now never will
        return {"execution_id": str(execution_id), "status": ExecutionStatus.CANCELLED.value,
                "cancel_requested": True}
    workflow_gone = row["workflow_id"] is None
    if not workflow_gone:
        try:
            await ctx.require_temporal().get_workflow_handle(row["workflow_id"]).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise NetworkError(f"Temporal refused the cancellation: {exc.message}") from exc
            workflow_gone = True
    status = row["status"]
    if workflow_gone or status == ExecutionStatus.SCHEDULED.value:
        async with ctx.engine.begin() as conn:
            closed = await conn.run_sync(lambda sync_conn: close_execution(sync_conn, execution_id, cancelled=True))
        status = closed.status
    return {"execution_id": str(execution_id), "status": status, "cancel_requested": True}


RETRY_WAIT_S = 10.0


async def _until_workflow_closed(ctx: ServiceContext, workflow_id: str, *, timeout_s: float) -> None:
    """Wait (bounded) while the workflow of a just-cancelled execution winds down: a retry reuses its id.

    If it is still running after ``timeout_s``, the trigger answers 409 "still finishing" as usual.
    """
    handle = ctx.require_temporal().get_workflow_handle(workflow_id)
    try:
        async with asyncio.timeout(timeout_s):
            while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await asyncio.sleep(0.1)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise NetworkError(f"Temporal did not describe the workflow: {exc.message}") from exc
    except TimeoutError:
        pass


async def retry_execution(ctx: ServiceContext, principal: Principal, execution_id: UUID) -> TriggerResult:
    """A new execution of a failed or cancelled execution's range (same mode), with ``force``."""
    row = await get_execution_row(ctx, principal, execution_id)
    if row["status"] not in (ExecutionStatus.FAILED.value, ExecutionStatus.CANCELLED.value):
        raise ConflictError(f"only a failed or cancelled execution can be retried; this one is {row['status']}",
                            execution_id=execution_id)
    mode = (row["config"] or {}).get("mode", "full")
    if row["workflow_id"]:
        await _until_workflow_closed(ctx, row["workflow_id"], timeout_s=RETRY_WAIT_S)
    return await trigger_execution(ctx, principal, pipeline_id=row["pipeline_id"], start=row["date_start"],
                                   end=row["date_end"], force=True, trigger="retry", mode=mode)


async def watch_execution(ctx: ServiceContext, principal: Principal, execution_id: UUID, *,
                          resync_s: float = 5.0) -> AsyncIterator[dict[str, Any]]:
    """The execution now, then again each time it changes, until it ends (the last one is terminal).

    Woken by the feed; every ``resync_s`` without a wake-up it re-reads anyway, which bounds the
    staleness if the feed's connection was lost and a notification with it.
    """
    await get_execution_row(ctx, principal, execution_id)
    async with ctx.execution_feed().subscribe(execution_id) as changes:
        previous: dict[str, Any] | None = None
        while True:
            changes.reset()
            snapshot = await get_execution(ctx, principal, execution_id)
            if snapshot != previous:
                yield snapshot
                previous = snapshot
            if is_terminal(snapshot["status"]):
                return
            await changes.wait(resync_s)
