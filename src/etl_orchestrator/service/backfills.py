"""Backfills: a pipeline's date range run as ``BackfillWorkflow`` on the backfill task queue.

The ``backfills`` row mirrors the workflow (status, progress, error); the workflow writes it every
few partitions and at the end, the operations below write it when a user pauses, resumes or
cancels. ``get_backfill`` asks the running workflow for live progress and falls back to the row.

Every partition a backfill runs gets its own ``etl_executions`` row (trigger ``backfill``) with an
id derived from the backfill id and the date (uuid5), so planning a partition twice — a retried
activity, a replayed or continued-as-new run — never creates a second execution.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.activities.orchestration_contracts import (
    BackfillInput,
    BackfillStatusInput,
    BackfillStatusResult,
    PlannedPartition,
    PlanPartitionsInput,
    PlanPartitionsResult,
    etl_search_attributes,
)
from etl_orchestrator.db.execution_store import LIVE_STATUSES, aggregate_layers
from etl_orchestrator.db.models import backfills, etl_executions, partitions
from etl_orchestrator.domain.enums import ExecutionStatus
from etl_orchestrator.domain.errors import ConflictError, NetworkError, NotFoundError, ValidationFailed
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.executions import run_options
from etl_orchestrator.service.organizations import get_visible_pipeline
from etl_orchestrator.service.pagination import after, page_of

BACKFILL_WORKFLOW = "BackfillWorkflow"
MAX_BACKFILL_DAYS = 3660
MAX_PARALLELISM = 64
ACTIVE_STATUSES = ("running", "paused", "cancelling")
FINAL_STATUSES = ("completed", "failed", "cancelled")
# Fixed namespace of the uuid5 ids of backfill partitions: the same backfill and date, the same execution.
_PARTITION_NAMESPACE = UUID("6f1d3c2e-5b7a-4e0f-9a51-3c8e2d7b9f10")


def backfill_workflow_id(backfill_id: UUID) -> str:
    return f"backfill:{backfill_id}"


def partition_workflow_id(backfill_id: UUID, day: date) -> str:
    return f"backfill:{backfill_id}:{day.isoformat()}"


def partition_execution_id(backfill_id: UUID, day: date) -> UUID:
    return uuid5(_PARTITION_NAMESPACE, f"{backfill_id}:{day.isoformat()}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def execution_row(*, execution_id: UUID, pipeline_id: UUID, org_id: int, workflow_id: str, start: date, end: date,
                  force: bool, trigger: str, backfill_id: UUID | None = None) -> dict[str, Any]:
    """A new ``etl_executions`` row in status scheduled, as ``trigger_execution`` writes one."""
    return {
        "id": execution_id, "pipeline_id": pipeline_id, "org_id": org_id,
        "status": ExecutionStatus.SCHEDULED.value,
        "workflow_id": workflow_id, "trigger": trigger, "date_start": start, "date_end": end, "force": force,
        "backfill_id": backfill_id,
        "config": {"date_range": {"start": start.isoformat(), "end": end.isoformat()}, "force": force,
                   "mode": "full"},
        "result": {"layers": aggregate_layers({}, (end - start).days + 1), "partitions": {}},
        "started_at": _utcnow().replace(tzinfo=None),
    }


def initial_progress(total: int) -> dict[str, Any]:
    return {"done": 0, "failed": 0, "running": 0, "remaining": total, "skipped": 0, "cancelled": 0,
            "total": total, "eta_s": None}


def iso_utc(value: datetime | None) -> str | None:
    """A timestamp (naive values are UTC, as the seed's columns hold them) as ``…Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def backfill_view(row: Any, progress: dict[str, Any] | None = None) -> dict[str, Any]:
    total = (row["date_end"] - row["date_start"]).days + 1
    return {
        "backfill_id": str(row["id"]),
        "pipeline_id": str(row["pipeline_id"]),
        "org_id": row["org_id"],
        "workflow_id": row["workflow_id"],
        "status": row["status"],
        "date_range": {"start": row["date_start"].isoformat(), "end": row["date_end"].isoformat()},
        "parallelism": row["parallelism"],
        "force": row["force"],
        "progress": {**initial_progress(total), **(row["progress"] or {}), **(progress or {})},
        "error": row["error"],
        "created_at": iso_utc(row["created_at"]),
        "updated_at": iso_utc(row["updated_at"]),
        "completed_at": iso_utc(row["completed_at"]),
    }


# ------------------------------------------------------------------------------------------ start


async def start_backfill(ctx: ServiceContext, *, backfill_id: UUID, pipeline: dict[str, Any], start: date,
                         end: date, parallelism: int, force: bool,
                         children_per_run: int | None = None) -> dict[str, Any]:
    """Record the backfill and start its workflow. Idempotent per ``backfill_id`` (safe to retry)."""
    workflow_id = backfill_workflow_id(backfill_id)
    async with ctx.engine.begin() as conn:
        await conn.execute(pg_insert(backfills).values(
            id=backfill_id, org_id=pipeline["org_id"], pipeline_id=pipeline["id"], workflow_id=workflow_id,
            date_start=start, date_end=end, parallelism=parallelism, force=force, status="running",
            progress=initial_progress((end - start).days + 1),
        ).on_conflict_do_nothing(index_elements=["id"]))
    queue = ctx.settings.etl.temporal.backfill_task_queue
    params = BackfillInput(backfill_id=backfill_id, org_id=pipeline["org_id"], pipeline_id=pipeline["id"],
                           start=start, end=end, parallelism=parallelism, force=force,
                           options=run_options(ctx.settings, task_queue=queue),
                           **({"children_per_run": children_per_run} if children_per_run else {}))
    try:
        await ctx.require_temporal().start_workflow(
            BACKFILL_WORKFLOW, params, id=workflow_id, task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=etl_search_attributes(pipeline["org_id"], pipeline["id"], start))
    except WorkflowAlreadyStartedError:
        pass  # it ran already (a retried start): the row says how it went
    except RPCError as exc:
        await _set_status(ctx, backfill_id, "failed", error=f"could not start the workflow: {exc.message}")
        raise NetworkError(f"could not start the backfill workflow: {exc.message}") from exc
    return backfill_view(await _row(ctx, backfill_id))


async def create_backfill(ctx: ServiceContext, principal: Principal, *, pipeline_id: UUID, start: date, end: date,
                          parallelism: int = 4, force: bool = False,
                          children_per_run: int | None = None) -> dict[str, Any]:
    """Run ``start..end`` of a pipeline, ``parallelism`` partitions at a time; completed ones are
    skipped unless forced.

    ``children_per_run`` (default 100) is how many partitions one workflow run finishes before it
    continues as new.
    """
    pipeline = await get_visible_pipeline(ctx, principal, pipeline_id)
    if start > end:
        raise ValidationFailed("end", f"end ({end}) is before start ({start})")
    days = (end - start).days + 1
    if days > MAX_BACKFILL_DAYS:
        raise ValidationFailed("start", f"the range spans {days} days; at most {MAX_BACKFILL_DAYS} are allowed")
    if not 1 <= parallelism <= MAX_PARALLELISM:
        raise ValidationFailed("parallelism", f"must be 1..{MAX_PARALLELISM}, got {parallelism}")
    if children_per_run is not None and not 1 <= children_per_run <= 1000:
        raise ValidationFailed("children_per_run", f"must be 1..1000, got {children_per_run}")
    return await start_backfill(ctx, backfill_id=uuid4(), pipeline=pipeline, start=start, end=end,
                                parallelism=parallelism, force=force, children_per_run=children_per_run)


# ------------------------------------------------------------------------------------------ reads


async def _row(ctx: ServiceContext, backfill_id: UUID) -> Any:
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(backfills).where(backfills.c.id == backfill_id))).mappings().first()
    if row is None:
        raise NotFoundError("backfill not found", backfill_id=backfill_id)
    return row


async def _visible_row(ctx: ServiceContext, principal: Principal, backfill_id: UUID) -> Any:
    row = await _row(ctx, backfill_id)
    if not principal.can_see(row["org_id"]):
        raise NotFoundError("backfill not found", backfill_id=backfill_id)
    return row


async def _live_progress(ctx: ServiceContext, row: Any) -> dict[str, Any] | None:
    """The running workflow's own progress; None when it is not answering (the row's is then shown)."""
    if row["status"] not in ACTIVE_STATUSES or ctx.temporal is None:
        return None
    try:
        return await ctx.temporal.get_workflow_handle(row["workflow_id"]).query("progress")
    except RPCError:
        return None
    except Exception:  # noqa: BLE001 — a query failing (workflow closing, worker down) must not fail a read
        return None


async def get_backfill(ctx: ServiceContext, principal: Principal, backfill_id: UUID) -> dict[str, Any]:
    row = await _visible_row(ctx, principal, backfill_id)
    return backfill_view(row, await _live_progress(ctx, row))


async def list_backfills(ctx: ServiceContext, principal: Principal, *, pipeline_id: UUID | None = None,
                         limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, keyset-paginated; an org key sees its organization's backfills only."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit", f"must be 1..1000, got {limit}")
    conditions = []
    if not principal.is_admin:
        conditions.append(backfills.c.org_id == principal.org_id)
    if pipeline_id is not None:
        conditions.append(backfills.c.pipeline_id == pipeline_id)
    if cursor:
        conditions.append(after(backfills.c.created_at, backfills.c.id, cursor))
    query = (select(backfills).where(*conditions)
             .order_by(backfills.c.created_at.desc(), backfills.c.id.desc()).limit(limit + 1))
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    page, next_cursor = page_of(rows, limit, sort="created_at")
    return [backfill_view(row) for row in page], next_cursor


# ------------------------------------------------------------------------------------------ control


async def _set_status(ctx: ServiceContext, backfill_id: UUID, status: str, *, error: str | None = None,
                      progress: dict[str, Any] | None = None) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": _utcnow()}
    if error is not None:
        values["error"] = error
    if progress is not None:
        values["progress"] = progress
    if status in FINAL_STATUSES:
        values["completed_at"] = _utcnow()
    async with ctx.engine.begin() as conn:
        await conn.execute(update(backfills).where(backfills.c.id == backfill_id).values(**values))


async def _update_workflow(ctx: ServiceContext, principal: Principal, backfill_id: UUID, update_name: str,
                           status: str) -> dict[str, Any]:
    """Send ``update_name`` (pause | resume) to a running or paused backfill; mirror ``status``; the view."""
    row = await _visible_row(ctx, principal, backfill_id)
    if row["status"] not in ("running", "paused"):
        raise ConflictError(f"a {row['status']} backfill cannot {update_name}", backfill_id=backfill_id)
    progress = await _send_update(ctx, row, update_name)
    await _set_status(ctx, backfill_id, status, progress=progress)
    return backfill_view(await _row(ctx, backfill_id), progress)


async def _send_update(ctx: ServiceContext, row: Any, update_name: str) -> dict[str, Any]:
    try:
        return await ctx.require_temporal().get_workflow_handle(row["workflow_id"]).execute_update(update_name)
    except WorkflowUpdateFailedError as exc:
        raise ConflictError(f"the backfill refused to {update_name}: {exc.cause}", backfill_id=row["id"]) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ConflictError(f"the backfill is no longer running; cannot {update_name}",
                                backfill_id=row["id"]) from exc
        raise NetworkError(f"could not {update_name} the backfill: {exc.message}") from exc


async def pause_backfill(ctx: ServiceContext, principal: Principal, backfill_id: UUID) -> dict[str, Any]:
    """Start no new partitions; the running ones finish. Idempotent."""
    return await _update_workflow(ctx, principal, backfill_id, "pause", "paused")


async def resume_backfill(ctx: ServiceContext, principal: Principal, backfill_id: UUID) -> dict[str, Any]:
    """Start partitions again, up to the parallelism. Idempotent."""
    return await _update_workflow(ctx, principal, backfill_id, "resume", "running")


async def cancel_backfill(ctx: ServiceContext, principal: Principal, backfill_id: UUID) -> dict[str, Any]:
    """Cancel the workflow: its running partitions are cancelled and marked so; ``cancelling`` until done."""
    row = await _visible_row(ctx, principal, backfill_id)
    if row["status"] in ("cancelled", "cancelling"):
        return backfill_view(row)
    if row["status"] in ("completed", "failed"):
        raise ConflictError(f"the backfill is already {row['status']}", backfill_id=backfill_id)
    handle = ctx.require_temporal().get_workflow_handle(row["workflow_id"])
    try:
        await handle.cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise NetworkError(f"could not cancel the backfill: {exc.message}") from exc
    async with ctx.engine.begin() as conn:
        # Only a live row becomes "cancelling": the workflow may have just finished and written its end.
        await conn.execute(update(backfills).where(backfills.c.id == backfill_id,
                                                   backfills.c.status.in_(("running", "paused")))
                           .values(status="cancelling", updated_at=_utcnow()))
    try:
        description = await handle.describe()
        if description.status is not WorkflowExecutionStatus.RUNNING:
            await _close_leftovers_after_crash(ctx, row, description.status)
    except RPCError:
        pass
    return backfill_view(await _row(ctx, backfill_id))


async def _close_leftovers_after_crash(ctx: ServiceContext, row: Any, status: WorkflowExecutionStatus) -> None:
    """A workflow that closed without writing its end (terminated): close the row for it."""
    current = await _row(ctx, row["id"])
    if current["status"] in FINAL_STATUSES:
        return
    final = "cancelled" if status is WorkflowExecutionStatus.CANCELED else "failed"
    async with ctx.engine.begin() as conn:
        await _close_live_executions(conn, row["id"])
    await _set_status(ctx, row["id"], final, error=None if final == "cancelled" else f"workflow {status.name}")


# ------------------------------------------------------------------------------------------ workflow side


async def plan_partitions(ctx: ServiceContext, params: PlanPartitionsInput) -> PlanPartitionsResult:
    """Walk ``params.dates`` in order: completed partitions are skipped (unless forced), the next
    ``params.limit`` others get their execution row. Returns the prefix of dates it decided on."""
    async with ctx.engine.begin() as conn:
        completed: set[date] = set()
        if not params.force:
            completed = set((await conn.execute(
                select(partitions.c.date).where(partitions.c.pipeline_id == params.pipeline_id,
                                                partitions.c.date.in_(params.dates),
                                                partitions.c.status == "completed"))).scalars())
        planned: list[PlannedPartition] = []
        runnable = 0
        for day in params.dates:
            if day in completed:
                planned.append(PlannedPartition(date=day, skip=True))
                continue
            if runnable >= params.limit:
                break
            planned.append(PlannedPartition(date=day, skip=False,
                                            execution_id=partition_execution_id(params.backfill_id, day),
                                            workflow_id=partition_workflow_id(params.backfill_id, day)))
            runnable += 1
        rows = [execution_row(execution_id=p.execution_id, pipeline_id=params.pipeline_id, org_id=params.org_id,
                              workflow_id=p.workflow_id, start=p.date, end=p.date, force=params.force,
                              trigger="backfill", backfill_id=params.backfill_id)
                for p in planned if not p.skip]
        if rows:
            # The same id again (a retried activity) is a no-op; so is a row already there.
            await conn.execute(pg_insert(etl_executions).values(rows).on_conflict_do_nothing())
    return PlanPartitionsResult(partitions=planned)


async def _close_live_executions(conn: AsyncConnection, backfill_id: UUID) -> int:
    """Executions of the backfill that never ran to an end (planned, then cancelled): mark them cancelled."""
    now = _utcnow().replace(tzinfo=None)
    result = await conn.execute(
        update(etl_executions)
        .where(etl_executions.c.backfill_id == backfill_id, etl_executions.c.status.in_(LIVE_STATUSES))
        .values(status=ExecutionStatus.CANCELLED.value, completed_at=now, updated_at=now,
                error="the backfill was cancelled before this partition finished"))
    return result.rowcount


async def record_backfill_status(ctx: ServiceContext, params: BackfillStatusInput) -> BackfillStatusResult:
    """The workflow's report: progress and status; at the end also close what never ran."""
    async with ctx.engine.begin() as conn:
        current = (await conn.execute(select(backfills.c.status).where(backfills.c.id == params.backfill_id)
                                      .with_for_update())).scalar()
        if current is None:
            return BackfillStatusResult()
        status = params.status
        if not params.final and current == "cancelling":
            status = current  # a progress report must not undo a cancel request in flight
        values: dict[str, Any] = {"status": status, "progress": params.progress, "updated_at": _utcnow()}
        closed = 0
        if params.final:
            values["completed_at"] = _utcnow()
            values["error"] = params.error
            closed = await _close_live_executions(conn, params.backfill_id)
        await conn.execute(update(backfills).where(backfills.c.id == params.backfill_id).values(**values))
    return BackfillStatusResult(cancelled_executions=closed)


async def backfill_execution_counts(ctx: ServiceContext, backfill_id: UUID) -> dict[str, int]:
    """Executions of a backfill by status (for views and tests)."""
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(
            select(etl_executions.c.status, func.count()).where(etl_executions.c.backfill_id == backfill_id)
            .group_by(etl_executions.c.status))).all()
    return {status: count for status, count in rows}
