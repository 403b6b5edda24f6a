"""The write path of executions, used by activities (synchronous; activities run it in threads).

Every status change is written with its log lines and its events in one transaction, so the API
(which reads only PostgreSQL) and the event stream never disagree. Per-partition layer outcomes
live in ``etl_executions.result -> 'partitions'``; the seed's ``layers`` object is recomputed from
them on every change, under the execution row's lock, so concurrent partitions never lose updates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from etl_orchestrator.db.models import (
    budget_segments,
    data_quality_metrics,
    etl_executions,
    execution_logs,
    partitions,
    pipelines,
)
from etl_orchestrator.domain.enums import ExecutionStatus, Layer, LayerStatus
from etl_orchestrator.domain.errors import NotFoundError
from etl_orchestrator.domain.events import EventType
from etl_orchestrator.events.outbox import enqueue_event

MIB = 1024 * 1024
LIVE_STATUSES = (ExecutionStatus.SCHEDULED.value, ExecutionStatus.RUNNING.value)


def utcnow() -> datetime:
    """Naive UTC, as the seed's TIMESTAMP columns hold it."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class PipelineRecord:
    id: UUID
    org_id: int
    name: str
    source_kind: str
    source_config: dict[str, Any]
    quality_rules: list[dict[str, Any]]
    restatement_days: int


@dataclass(frozen=True)
class LogLine:
    level: str
    message: str
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class QualityIssueRow:
    metric_type: str
    count: int
    severity: str
    details: dict[str, Any] = field(default_factory=dict)


def load_pipeline(engine: Engine, pipeline_id: UUID) -> PipelineRecord:
    with engine.connect() as conn:
        row = conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id)).mappings().first()
    if row is None:
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    return PipelineRecord(id=row["id"], org_id=row["org_id"], name=row["name"], source_kind=row["source_kind"],
                          source_config=dict(row["source_config"] or {}),
                          quality_rules=list(row["quality_rules"] or []),
                          restatement_days=row["restatement_days"])


# ------------------------------------------------------------------------------------------ aggregation


def _aggregate_status(statuses: Sequence[str], partition_count: int) -> str:
    if not statuses:
        return LayerStatus.PENDING.value
    if LayerStatus.RUNNING.value in statuses:
        return LayerStatus.RUNNING.value
    if LayerStatus.FAILED.value in statuses:
        return LayerStatus.FAILED.value
    if len(statuses) < partition_count:
        return LayerStatus.RUNNING.value
    if all(status == LayerStatus.SKIPPED.value for status in statuses):
        return LayerStatus.SKIPPED.value
    return LayerStatus.COMPLETED.value


def aggregate_layers(partition_outcomes: dict[str, dict[str, Any]], partition_count: int) -> dict[str, Any]:
    """The seed's ``layers`` object, summed over the partitions of an execution."""

    def outcomes(layer: Layer) -> list[dict[str, Any]]:
        return [per[layer.value] for per in partition_outcomes.values() if layer.value in per]

    bronze, silver, gold = outcomes(Layer.BRONZE), outcomes(Layer.SILVER), outcomes(Layer.GOLD)
    tables: list[str] = []
    for outcome in gold:
        for table in outcome.get("tables_updated", []):
            if table not in tables:
                tables.append(table)
    return {
        "bronze": {
            "status": _aggregate_status([o["status"] for o in bronze], partition_count),
            "records": sum(o.get("records", 0) for o in bronze),
            "size_mb": round(sum(o.get("size_bytes", 0) for o in bronze) / MIB, 1),
            "duration_ms": sum(o.get("duration_ms", 0) for o in bronze),
        },
        "silver": {
            "status": _aggregate_status([o["status"] for o in silver], partition_count),
            "records": sum(o.get("records", 0) for o in silver),
            "records_filtered": sum(o.get("records_filtered", 0) for o in silver),
            "duration_ms": sum(o.get("duration_ms", 0) for o in silver),
        },
        "gold": {
            "status": _aggregate_status([o["status"] for o in gold], partition_count),
            "tables_updated": tables,
            "duration_ms": sum(o.get("duration_ms", 0) for o in gold),
        },
    }


def _partition_count(row: dict[str, Any]) -> int:
    if row["date_start"] and row["date_end"]:
        return (row["date_end"] - row["date_start"]).days + 1
    return 1


# The statements of the status transactions, built once: building a statement (an upsert's
# ``excluded`` alone makes a proxy of every column) cost more client CPU than running it.
_LOCK_EXECUTION = select(etl_executions).where(etl_executions.c.id == bindparam("execution_id")).with_for_update()
_INSERT_LOGS = insert(execution_logs)


# SET takes the columns of the parameters given (SQLAlchemy compiles, and caches, one per set of columns).
_UPDATE_EXECUTION = update(etl_executions).where(etl_executions.c.id == bindparam("_execution_id"))


def _set_execution(conn: Connection, execution_id: UUID, values: dict[str, Any]) -> None:
    conn.execute(_UPDATE_EXECUTION, {"_execution_id": execution_id, **values})


def _lock_execution(conn: Connection, execution_id: UUID) -> dict[str, Any]:
    row = conn.execute(_LOCK_EXECUTION, {"execution_id": execution_id}).mappings().first()
    if row is None:
        raise NotFoundError("execution not found", execution_id=execution_id)
    return dict(row)


def _write_logs(conn: Connection, *, execution_id: UUID, org_id: int, layer: str | None,
                partition_date: date | None, lines: Iterable[LogLine]) -> None:
    rows = [{"execution_id": execution_id, "org_id": org_id, "timestamp": utcnow(), "level": line.level,
             "layer": layer, "partition_date": partition_date, "message": line.message, "details": line.details}
            for line in lines]
    if rows:
        conn.execute(_INSERT_LOGS, rows)


# ------------------------------------------------------------------------------------------ transitions


def begin_execution(engine: Engine, execution_id: UUID, *, workflow_id: str, run_id: str | None,
                    starting: dict[str, Any] | None = None) -> str | None:
    """Mark the execution running and announce it: None, or its final status when it is already over.

    ``starting``: ``record_layer``'s arguments for the layer that starts first, written in the same
    transaction (a one-day execution's first write is then also its Bronze start).
    """
    with engine.begin() as conn:
        row = _lock_execution(conn, execution_id)
        if ExecutionStatus(row["status"]).is_terminal:
            return row["status"]
        if row["status"] != ExecutionStatus.RUNNING.value:  # else a retried or replayed begin: already announced
            row = _announce(conn, row, workflow_id=workflow_id, run_id=run_id)
        if starting is not None:
            _record_layer(conn, execution_id, row=row, **starting)
    return None


def _announce(conn: Connection, row: dict[str, Any], *, workflow_id: str, run_id: str | None) -> dict[str, Any]:
    """Mark the (locked) execution running; its row as updated."""
    execution_id = row["id"]
    now = utcnow()
    # started_at stays the time the execution was created: rows keep their place in the listing's
    # keyset order, and the duration a user sees includes any wait for a worker.
    values = {"status": ExecutionStatus.RUNNING.value, "updated_at": now, "workflow_id": workflow_id,
              "result": {"layers": aggregate_layers({}, _partition_count(row)), "partitions": {}, "run_id": run_id}}
    _set_execution(conn, execution_id, values)
    dates = f"{row['date_start']}" if row["date_start"] == row["date_end"] else \
        f"{row['date_start']} to {row['date_end']}"
    _write_logs(conn, execution_id=execution_id, org_id=row["org_id"], layer=None, partition_date=None,
                lines=[LogLine("info", f"Execution started for {dates}")])
    enqueue_event(conn, EventType.EXECUTION_STARTED, org_id=row["org_id"], pipeline_id=row["pipeline_id"],
                  execution_id=execution_id, data={
                      "status": ExecutionStatus.RUNNING.value, "trigger": row["trigger"],
                      "date_start": str(row["date_start"]), "date_end": str(row["date_end"]),
                  })
    return {**row, **values}


def record_layer(engine: Engine, execution_id: UUID, *, partition_date: date, layer: Layer,
                 outcome: dict[str, Any], logs: Sequence[LogLine] = (),
                 quality_issues: Sequence[QualityIssueRow] = (), extra: dict[str, Any] | None = None,
                 ledger: dict[str, Any] | None = None, then: Layer | None = None,
                 close: bool = False) -> ClosedExecution | None:
    """Store one partition's outcome for one layer; emit ``layer.completed`` when it completed or was skipped.

    ``extra`` merges more keys into the partition's entry (for example the row-count invariant);
    ``ledger`` updates the partition ledger in the same transaction; ``then`` marks the layer that
    starts right after this one running, in the same transaction (one write per layer, not two);
    ``close`` closes the execution in it too (its last layer of its last partition), see
    ``finish_execution``.
    """
    with engine.begin() as conn:
        row = _record_layer(conn, execution_id, partition_date=partition_date, layer=layer, outcome=outcome,
                            logs=logs, quality_issues=quality_issues, extra=extra, ledger=ledger, then=then)
        return close_execution(conn, execution_id, row=row) if close else None


def _record_layer(conn: Connection, execution_id: UUID, *, partition_date: date, layer: Layer,
                  outcome: dict[str, Any], logs: Sequence[LogLine] = (),
                  quality_issues: Sequence[QualityIssueRow] = (), extra: dict[str, Any] | None = None,
                  ledger: dict[str, Any] | None = None, then: Layer | None = None,
                  row: dict[str, Any] | None = None) -> dict[str, Any]:
    """``record_layer`` in the caller's transaction; ``row``: the execution, already locked by it.

    Returns the execution's row as updated (so a close in the same transaction need not read it again).
    """
    row = row if row is not None else _lock_execution(conn, execution_id)
    result = dict(row["result"] or {})
    per_partition: dict[str, dict[str, Any]] = dict(result.get("partitions") or {})
    key = partition_date.isoformat()
    entry = dict(per_partition.get(key) or {})
    entry[layer.value] = outcome
    if then is not None:
        entry[then.value] = {"status": LayerStatus.RUNNING.value}
    if extra:
        entry.update(extra)
    per_partition[key] = entry
    result["partitions"] = per_partition
    layers = aggregate_layers(per_partition, _partition_count(row))
    result["layers"] = layers
    now = utcnow()
    values = {"result": result, "layer": (then or layer).value, "updated_at": now,
              "records_processed": layers["bronze"]["records"], "records_failed": layers["silver"]["records_filtered"],
              "size_bytes": sum(p.get("bronze", {}).get("size_bytes", 0) for p in per_partition.values())}
    _set_execution(conn, execution_id, values)
    _write_logs(conn, execution_id=execution_id, org_id=row["org_id"], layer=layer.value,
                partition_date=partition_date, lines=logs)
    if quality_issues:
        conn.execute(insert(data_quality_metrics), [
            {"pipeline_id": row["pipeline_id"], "org_id": row["org_id"], "execution_id": execution_id,
             "layer": layer.value, "metric_type": issue.metric_type, "count": issue.count,
             "severity": issue.severity, "details": issue.details, "timestamp": now,
             "partition_date": partition_date}
            for issue in quality_issues
        ])
        for issue in quality_issues:
            if issue.count > 0 and issue.severity in ("warning", "error"):
                enqueue_event(conn, EventType.QUALITY_ISSUE_DETECTED, org_id=row["org_id"],
                              pipeline_id=row["pipeline_id"], execution_id=execution_id, data={
                                  "layer": layer.value, "partition_date": key,
                                  "issue": {"metric_type": issue.metric_type, "count": issue.count,
                                            "severity": issue.severity, "details": issue.details}})
    if outcome.get("status") in (LayerStatus.COMPLETED.value, LayerStatus.SKIPPED.value):
        enqueue_event(conn, EventType.LAYER_COMPLETED, org_id=row["org_id"], pipeline_id=row["pipeline_id"],
                      execution_id=execution_id, data={"layer": layer.value, "partition_date": key,
                                                       **outcome})
    if ledger is not None:
        _upsert_ledger(conn, pipeline_id=row["pipeline_id"], org_id=row["org_id"],
                       partition_date=partition_date, values=ledger)
    return {**row, **values}


def record_partition_failure(engine: Engine, execution_id: UUID, *, partition_date: date, error: str,
                             layer: Layer | None = None) -> Layer:
    """Record that the partition failed in ``layer``; None: the first layer it left unfinished.

    The layer is read from the execution under the same lock as the write, so a late step of a
    retried attempt cannot slip between the two. Returns the layer recorded.
    """
    with engine.begin() as conn:
        row = _lock_execution(conn, execution_id)
        layer = layer or _unfinished_layer(row, partition_date)
        _record_layer(conn, execution_id, row=row, partition_date=partition_date, layer=layer,
                      outcome={"status": LayerStatus.FAILED.value, "error": error},
                      logs=[LogLine("error", f"{layer.value} failed for {partition_date}: {error}")],
                      ledger={"status": "failed", "last_execution_id": execution_id})
    return layer


def _unfinished_layer(row: dict[str, Any], partition_date: date) -> Layer:
    """The first layer of the partition that neither completed nor was skipped (Gold if all did)."""
    entry = ((row["result"] or {}).get("partitions") or {}).get(partition_date.isoformat()) or {}
    done = (LayerStatus.COMPLETED.value, LayerStatus.SKIPPED.value)
    for layer in (Layer.BRONZE, Layer.SILVER, Layer.GOLD):
        if (entry.get(layer.value) or {}).get("status") not in done:
            return layer
    return Layer.GOLD


def _upsert_ledger(conn: Connection, *, pipeline_id: UUID, org_id: int, partition_date: date,
                   values: dict[str, Any]) -> None:
    row = {"pipeline_id": pipeline_id, "date": partition_date, "org_id": org_id, "updated_at": datetime.now(UTC),
           **values}
    # PostgreSQL checks NOT NULL on the row to insert before it sees the conflict: give an update
    # without a status one (only used if the partition is new; the conflict branch keeps the old one).
    conn.execute(_ledger_upsert(tuple(row)), {"status": "running", **row})


@functools.lru_cache(maxsize=32)
def _ledger_upsert(columns: tuple[str, ...]) -> Any:
    """Insert a ledger row; on conflict update these columns (its key excepted) from it."""
    statement = pg_insert(partitions)
    return statement.on_conflict_do_update(
        index_elements=[partitions.c.pipeline_id, partitions.c.date],
        set_={key: statement.excluded[key] for key in columns if key not in ("pipeline_id", "date")},
    )


@dataclass(frozen=True)
class ClosedExecution:
    status: str
    duration_ms: int | None
    changed: bool  # False when an earlier (retried) call had already closed it


def finish_execution(engine: Engine, execution_id: UUID, *, error: str | None = None,
                     cancelled: bool = False) -> ClosedExecution:
    """Close the execution: final status, durations, log line and ``execution.completed|failed``."""
    with engine.begin() as conn:
        return close_execution(conn, execution_id, error=error, cancelled=cancelled)


def close_execution(conn: Connection, execution_id: UUID, *, error: str | None = None,
                    cancelled: bool = False, row: dict[str, Any] | None = None) -> ClosedExecution:
    """``finish_execution`` inside the caller's transaction; ``row``: the execution, already locked by it."""
    row = row if row is not None else _lock_execution(conn, execution_id)
    if ExecutionStatus(row["status"]).is_terminal:
        return ClosedExecution(row["status"], row["duration_ms"], changed=False)
    result = dict(row["result"] or {})
    per_partition = result.get("partitions") or {}
    failed_dates = sorted(d for d, entry in per_partition.items()
                          if any(isinstance(v, dict) and v.get("status") == LayerStatus.FAILED.value
                                 for v in entry.values()))
    if cancelled:
        status = ExecutionStatus.CANCELLED
    elif error or failed_dates:
        status = ExecutionStatus.FAILED
    else:
        status = ExecutionStatus.COMPLETED
    if status is ExecutionStatus.FAILED and not error:
        error = "partitions failed: " + ", ".join(failed_dates)
    now = utcnow()
    started = row["started_at"] or now
    duration_ms = int((now - started).total_seconds() * 1000)
    result["total_duration_ms"] = duration_ms
    _set_execution(conn, execution_id, {
        "status": status.value, "completed_at": now, "updated_at": now, "duration_ms": duration_ms, "error": error,
        "result": result, "layer": None if status is ExecutionStatus.COMPLETED else row["layer"]})
    level = "info" if status is ExecutionStatus.COMPLETED else "error"
    message = f"Execution {status.value} in {duration_ms} ms" + (f": {error}" if error else "")
    _write_logs(conn, execution_id=execution_id, org_id=row["org_id"], layer=None, partition_date=None,
                lines=[LogLine(level, message)])
    event = EventType.EXECUTION_COMPLETED if status is ExecutionStatus.COMPLETED else EventType.EXECUTION_FAILED
    enqueue_event(conn, event, org_id=row["org_id"], pipeline_id=row["pipeline_id"], execution_id=execution_id,
                  data={"status": status.value, "duration_ms": duration_ms, "error": error,
                        "layers": result.get("layers"), "records_processed": row["records_processed"],
                        "records_failed": row["records_failed"]})
    return ClosedExecution(status.value, duration_ms, changed=True)


def append_logs(engine: Engine, execution_id: UUID, *, org_id: int, layer: str | None,
                partition_date: date | None, lines: Sequence[LogLine]) -> None:
    with engine.begin() as conn:
        _write_logs(conn, execution_id=execution_id, org_id=org_id, layer=layer, partition_date=partition_date,
                    lines=lines)


def update_progress(engine: Engine, execution_id: UUID, progress: dict[str, Any]) -> None:
    """Live progress (records and bytes done); no lock, last writer wins, it is advisory."""
    with engine.begin() as conn:
        _set_execution(conn, execution_id, {"progress": progress, "updated_at": utcnow()})


def budgets_refreshed_at(engine: Engine, pipeline_id: UUID) -> datetime | None:
    """When the pipeline's budget segments were last refreshed (None: never)."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(budget_segments.c.updated_at))
                            .where(budget_segments.c.pipeline_id == pipeline_id)).scalar()


def partition_history(engine: Engine, pipeline_id: UUID, before: date, days: int = 14) -> tuple[list[int], str | None]:
    """Bronze row counts of the pipeline's last completed days before ``before``, and this day's silver hash."""
    with engine.connect() as conn:
        counts = conn.execute(
            select(partitions.c.bronze_records)
            .where(partitions.c.pipeline_id == pipeline_id, partitions.c.date < before,
                   partitions.c.status == "completed", partitions.c.bronze_records.is_not(None))
            .order_by(partitions.c.date.desc()).limit(days)
        ).scalars().all()
        current_hash = conn.execute(
            select(partitions.c.silver_content_hash)
            .where(partitions.c.pipeline_id == pipeline_id, partitions.c.date == before,
                   partitions.c.status == "completed")
        ).scalar()
    return [int(count) for count in counts], current_hash
