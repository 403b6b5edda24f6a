"""Activities of ETLWorkflow: open and close an execution, record a failed partition; Silver and Gold steps.

``silver`` and ``gold`` are steps of ``run_partition`` (``activities/partition.py``), not activities.

Each records its layer's status, counts, quality issues and events in PostgreSQL in one transaction
(``db/execution_store.py``); the rows themselves stay in the lake and in ``gold``.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any
from uuid import UUID

from temporalio import activity

from etl_orchestrator.activities.base import ActivityBase, retry_settings
from etl_orchestrator.activities.contracts import (
    BeginInput,
    FinishInput,
    GoldInput,
    GoldOutcome,
    PacingInput,
    PartitionFailureInput,
    SilverInput,
    SilverOutcome,
)
from etl_orchestrator.activities.retrying import classified
from etl_orchestrator.db import execution_store as store
from etl_orchestrator.db.execution_store import LogLine, QualityIssueRow
from etl_orchestrator.domain.enums import Layer, LayerStatus
from etl_orchestrator.lake import Lake
from etl_orchestrator.layers.gold import latest_gold_date, load_campaign_daily, recompute_pacing
from etl_orchestrator.layers.silver import bronze_to_silver, replay_quarantine
from etl_orchestrator.observability import metrics
from etl_orchestrator.observability.logging import bind_execution
from etl_orchestrator.quality.rules import rules_from_json

GOLD_TABLES = ["campaign_daily", "pacing_metrics"]


class LayerActivities(ActivityBase):
    def __init__(self, *args, lake: Lake, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lake = lake

    @activity.defn(name="begin_execution")
    @classified(retry_settings)
    async def begin_execution(self, params: BeginInput) -> bool:
        """True when the execution is (now) running; False when it is already over."""
        return await self.open(params) is None

    async def open(self, params: BeginInput, *, starting: dict[str, Any] | None = None) -> str | None:
        """Mark the execution running (idempotent): None, or its final status when it is already over.

        ``starting``: the first layer's start, recorded in the same transaction (``store.begin_execution``).
        """
        return await self.offload(store.begin_execution, self.engine, params.execution_id,
                                  workflow_id=params.workflow_id, run_id=params.run_id, starting=starting)

    async def silver(self, params: SilverInput, pipeline: store.PipelineRecord | None = None) -> SilverOutcome:
        """Build the partition's Silver (or replay its quarantine) and record the layer's outcome."""
        partition = params.partition
        with bind_execution(org_id=partition.org_id, pipeline_id=partition.pipeline_id,
                            execution_id=params.execution_id, layer="silver", partition_date=partition.date):
            outcome = await self.offload(self._build_silver, params, pipeline)
        metrics.record_layer("silver", outcome.records, outcome.duration_ms / 1000, quarantined=outcome.quarantined)
        metrics.record_quality_score(partition.pipeline_id,
                                     100 * outcome.records / outcome.records_in if outcome.records_in else 100.0)
        return outcome

    def _build_silver(self, params: SilverInput, pipeline: store.PipelineRecord | None) -> SilverOutcome:
        started = time.monotonic()
        partition = params.partition
        pipeline = pipeline or store.load_pipeline(self.engine, partition.pipeline_id)
        trailing_counts, previous_hash = store.partition_history(self.engine, partition.pipeline_id, partition.date)
        if params.replay:
            # A replay re-reads no source: Bronze is as it was, and is reported as skipped.
            store.record_layer(self.engine, params.execution_id, partition_date=partition.date, layer=Layer.BRONZE,
                               outcome={"status": LayerStatus.SKIPPED.value, "records": 0, "size_bytes": 0,
                                        "duration_ms": 0},
                               logs=[LogLine("info", "Replaying quarantined rows with the pipeline's current rules")],
                               then=Layer.SILVER)
        # Otherwise Bronze's completion already marked Silver running.
        rules = rules_from_json(pipeline.quality_rules)
        if params.replay:
            result = replay_quarantine(self.lake, partition, execution_id=params.execution_id, rules=rules,
                                       previous_hash=previous_hash)
        else:
            result = bronze_to_silver(
                self.lake, partition, execution_id=params.execution_id, rules=rules, totals=params.totals,
                trailing_row_counts=trailing_counts, previous_hash=previous_hash, source_format=params.source_format,
            )
        unchanged = previous_hash is not None and previous_hash == result.content_hash and not params.force
        filtered = result.quarantined + result.duplicates_removed
        outcome = SilverOutcome(records_in=result.records_in, records=result.records_out,
                                quarantined=result.quarantined, duplicates_removed=result.duplicates_removed,
                                content_hash=result.content_hash, unchanged=unchanged,
                                duration_ms=int((time.monotonic() - started) * 1000))
        issues = [QualityIssueRow(metric_type=issue.metric_type, count=issue.count, severity=issue.severity,
                                  details={"rule": issue.rule, "action": issue.action, **(issue.details or {})})
                  for issue in result.issues]
        # The quality score's numerator and denominator, so /data-quality needs only this table.
        issues += [QualityIssueRow("records_total", outcome.records_in, "info"),
                   QualityIssueRow("records_valid", outcome.records, "info")]
        logs = [LogLine("info", f"Validated {outcome.records_in} records: {outcome.records} valid, "
                                f"{outcome.quarantined} quarantined, {outcome.duplicates_removed} duplicates removed")]
        if filtered:
            logs.append(LogLine("warning", f"{filtered} records filtered due to data quality issues"))
        if unchanged:
            logs.append(LogLine("info", "Silver content unchanged since the last run; Gold is left untouched"))
        store.record_layer(
            self.engine, params.execution_id, partition_date=partition.date, layer=Layer.SILVER,
            outcome={"status": LayerStatus.COMPLETED.value, "records": outcome.records,
                     "records_in": outcome.records_in, "quarantined": outcome.quarantined,
                     "duplicates_removed": outcome.duplicates_removed, "records_filtered": filtered,
                     "content_hash": outcome.content_hash, "unchanged": unchanged,
                     "duration_ms": outcome.duration_ms},
            logs=logs, quality_issues=issues,
            extra={"invariant": {
                "bronze": outcome.records_in, "silver": outcome.records, "quarantined": outcome.quarantined,
                "duplicates_removed": outcome.duplicates_removed,
                "holds": outcome.records_in == outcome.records + outcome.quarantined + outcome.duplicates_removed,
            }},
            ledger={"silver_records": outcome.records, "quarantined_records": outcome.quarantined,
                    "duplicates_removed": outcome.duplicates_removed},
            then=None if unchanged else Layer.GOLD,  # Gold starts next, unless it is skipped
        )
        return outcome

    async def gold(self, params: GoldInput, *, close: bool = False) -> tuple[GoldOutcome, str | None]:
        """Replace the partition's Gold rows (and pacing, unless deferred) and record the layer's outcome.

        ``close``: also close the execution, in the same transaction; its status is returned beside
        the outcome (None without ``close``).
        """
        partition = params.partition
        with bind_execution(org_id=partition.org_id, pipeline_id=partition.pipeline_id,
                            execution_id=params.execution_id, layer="gold", partition_date=partition.date):
            outcome, closed = await self.offload(self._build_gold, params, close)
        metrics.record_layer("gold", outcome.records, outcome.duration_ms / 1000)
        return outcome, self._closed(closed) if closed else None

    def _build_gold(self, params: GoldInput, close: bool) -> tuple[GoldOutcome, store.ClosedExecution | None]:
        started = time.monotonic()
        partition = params.partition
        if params.skip:
            outcome = GoldOutcome(records=0, tables_updated=[], skipped=True, duration_ms=0)
            status, logs = LayerStatus.SKIPPED, [LogLine("info", "Gold unchanged (silver content hash matches)")]
        else:  # Silver's completion marked Gold running
            gold = load_campaign_daily(self.conninfo, self.lake, partition, execution_id=params.execution_id)
            if params.pacing:
                as_of, pacing_rows = self._refresh_pacing(partition.org_id, partition.pipeline_id, params.execution_id,
                                                          fallback=partition.date)
                pacing_note = f"pacing recomputed for {pacing_rows} budget segments as of {as_of}"
            else:
                pacing_note = "pacing left to the backfill, which recomputes it once for its partitions"
            outcome = GoldOutcome(records=gold.rows,
                                  tables_updated=GOLD_TABLES if params.pacing else ["campaign_daily"], skipped=False,
                                  duration_ms=int((time.monotonic() - started) * 1000))
            status = LayerStatus.COMPLETED
            logs = [LogLine("info", f"Loaded {gold.rows} rows into campaign_daily; {pacing_note}")]
        closed = store.record_layer(
            self.engine, params.execution_id, partition_date=partition.date, layer=Layer.GOLD,
            outcome={"status": status.value, "records": outcome.records, "tables_updated": outcome.tables_updated,
                     "skipped": outcome.skipped, "duration_ms": outcome.duration_ms},
            logs=logs,
            ledger={"status": "completed", "last_success_execution_id": params.execution_id,
                    **({} if outcome.skipped else {"gold_records": outcome.records})},
            close=close,
        )
        return outcome, closed

    def _refresh_pacing(self, org_id: int, pipeline_id: UUID, execution_id: UUID | None,
                        fallback: date | None = None) -> tuple[date | None, int]:
        """Pacing of every budget segment of the pipeline as of its newest Gold day (``fallback`` when
        Gold has no day with rows): (as_of, segments written)."""
        as_of = latest_gold_date(self.conninfo, pipeline_id=pipeline_id) or fallback
        if as_of is None:
            return None, 0
        return as_of, recompute_pacing(self.conninfo, org_id=org_id, pipeline_id=pipeline_id, as_of=as_of,
                                       execution_id=execution_id)

    @activity.defn(name="refresh_pacing")
    @classified(retry_settings)
    async def refresh_pacing(self, params: PacingInput) -> int:
        _, rows = await self.offload(self._refresh_pacing, params.org_id, params.pipeline_id, params.execution_id)
        return rows

    @activity.defn(name="record_partition_failure")
    @classified(retry_settings)
    async def record_partition_failure(self, params: PartitionFailureInput) -> None:
        # run_partition spans the layers: without a layer named, the one that failed is the one it left unfinished.
        await self.offload(store.record_partition_failure, self.engine, params.execution_id,
                           partition_date=params.partition.date, error=params.error,
                           layer=Layer(params.layer) if params.layer else None)

    @activity.defn(name="finish_execution")
    @classified(retry_settings)
    async def finish_execution(self, params: FinishInput) -> str:
        return await self.close(params)

    async def close(self, params: FinishInput) -> str:
        """Close the execution with its final status (idempotent) and return that status."""
        return self._closed(await self.offload(store.finish_execution, self.engine, params.execution_id,
                                               error=params.error, cancelled=params.cancelled))

    @staticmethod
    def _closed(closed: store.ClosedExecution) -> str:
        if closed.changed:  # not counted again when a retried close finds it closed
            metrics.record_execution(closed.status, (closed.duration_ms or 0) / 1000)
        return closed.status
