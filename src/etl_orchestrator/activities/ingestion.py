"""Activities of DataIngestionWorkflow: ask the source for a report, check on it, download it into Bronze.

Waiting between checks happens in the workflow (durable timers), never inside an activity. The
download lands in a ``.partial`` file renamed only when complete, and the Bronze write replaces
the partition atomically, so a retry or a crash never leaves half a partition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from temporalio import activity

from etl_orchestrator.activities.base import ActivityBase, retry_settings
from etl_orchestrator.activities.contracts import (
    BronzeOutcome,
    CheckReportInput,
    IngestInput,
    ReportRef,
    RequestReportInput,
)
from etl_orchestrator.activities.retrying import ActivityState, classified, current_state
from etl_orchestrator.connectors import build_connector
from etl_orchestrator.connectors.base import Connector, ReportHandle
from etl_orchestrator.db import execution_store as store
from etl_orchestrator.db.execution_store import LogLine
from etl_orchestrator.domain.enums import Layer, LayerStatus, SourceKind
from etl_orchestrator.domain.errors import DataError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from etl_orchestrator.layers.bronze import land_to_bronze
from etl_orchestrator.layers.gold import load_budgets
from etl_orchestrator.observability import metrics

SOURCE_LABELS = {SourceKind.DV360.value: "DV360", SourceKind.TTD.value: "The Trade Desk", SourceKind.FILE.value: "files"}
PROGRESS_EVERY_S = 1.0
BUDGETS_MAX_AGE = timedelta(minutes=15)
BUDGETS_WAIT_HEARTBEAT_S = 5.0


def budgets_fresh(refreshed: datetime | None) -> bool:
    """Whether budgets last refreshed at ``refreshed`` (None: never) are recent enough to use."""
    return refreshed is not None and datetime.now(UTC) - refreshed < BUDGETS_MAX_AGE


def source_format_of(pipeline: store.PipelineRecord, report: ReportRef) -> str:
    """The Bronze table a pipeline's raw files go to: the DSP's format, or the file's detected format."""
    if pipeline.source_kind == SourceKind.FILE.value:
        return str(report.extra.get("format") or pipeline.source_config.get("format") or "csv")
    return pipeline.source_kind


@asynccontextmanager
async def connected(pipeline: store.PipelineRecord, connector: Connector | None = None) -> AsyncIterator[Connector]:
    """``connector`` as given (its owner closes it), else a new one for the pipeline, closed on exit."""
    if connector is not None:
        yield connector
        return
    connector = build_connector(pipeline.source_kind, pipeline.source_config)
    try:
        yield connector
    finally:
        await connector.aclose()


def bronze_started(pipeline: store.PipelineRecord, partition: PartitionRef, execution_id: UUID) -> dict[str, Any]:
    """``store.record_layer``'s arguments (after the execution id) that mark the partition's Bronze running."""
    label = SOURCE_LABELS.get(pipeline.source_kind, pipeline.source_kind)
    return {"partition_date": partition.date, "layer": Layer.BRONZE, "outcome": {"status": LayerStatus.RUNNING.value},
            "logs": [LogLine("info", f"Started data ingestion from {label}", {"date": str(partition.date)})],
            "ledger": {"status": "running", "last_execution_id": execution_id}}


def _to_ref(handle: ReportHandle) -> ReportRef:
    return ReportRef(source=handle.source, state=handle.state, query_id=handle.query_id,
                     report_id=handle.report_id, download_url=handle.download_url, extra=dict(handle.extra))


def _to_handle(ref: ReportRef) -> ReportHandle:
    return ReportHandle(source=ref.source, state=ref.state, query_id=ref.query_id, report_id=ref.report_id,
                        download_url=ref.download_url, extra=dict(ref.extra))


class IngestionActivities(ActivityBase):
    def __init__(self, *args, lake: Lake, landing_dir: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lake = lake
        self.landing_dir = landing_dir
        self._budgets_refreshed: dict[UUID, datetime] = {}  # pipeline → budgets' last refresh, while fresh
        self._budget_refreshes: dict[UUID, asyncio.Event] = {}  # pipeline → set when its refresh in flight ends

    def landing_path(self, partition: PartitionRef, execution_id: UUID) -> Path:
        return self.landing_dir / partition.key / f"{execution_id}.raw"

    async def _refresh_budgets(self, connector: Connector, partition: PartitionRef, state: ActivityState) -> int:
        """Load the source's insertion-order budgets, advertiser by advertiser (each one a resumable step).

        Budgets change rarely; a backfill of a year would otherwise ask for them once per day. The
        refresh time read from PostgreSQL (shared by every worker) is remembered until it goes stale,
        so most partitions do not even ask the database. Within this process one partition of a
        pipeline refreshes at a time: partitions started together (a burst of triggers, a backfill's
        first days) wait for the first one's refresh instead of each asking the source again.
        """
        pipeline_id = partition.pipeline_id
        if budgets_fresh(self._budgets_refreshed.get(pipeline_id)):
            return 0
        while (refreshing := self._budget_refreshes.get(pipeline_id)) is not None:
            try:
                await asyncio.wait_for(refreshing.wait(), BUDGETS_WAIT_HEARTBEAT_S)
            except TimeoutError:
                state.heartbeat()  # a long refresh elsewhere must not time this activity out
            if budgets_fresh(self._budgets_refreshed.get(pipeline_id)):
                return 0
        # No await between the check above and this: this partition is now the pipeline's refresher.
        self._budget_refreshes[pipeline_id] = refreshing = asyncio.Event()
        try:
            refreshed = await self.offload(store.budgets_refreshed_at, self.engine, pipeline_id)
            if budgets_fresh(refreshed):
                self._budgets_refreshed[pipeline_id] = refreshed
                return 0
            return await self._load_budgets(connector, partition, state)
        finally:
            del self._budget_refreshes[pipeline_id]
            refreshing.set()  # waiters find the budgets fresh, or (if this failed) one of them refreshes

    async def _load_budgets(self, connector: Connector, partition: PartitionRef, state: ActivityState) -> int:
        """Ask the source for each advertiser's insertion orders and load their budget segments."""
        advertisers = state.checkpoint.get("budget_advertisers")
        if advertisers is None:
            advertisers = await connector.budget_advertisers()
            state.advance(budget_advertisers=advertisers)
        done = set(state.checkpoint.get("budgets_done", []))
        segments = 0
        for advertiser_id in advertisers:
            if advertiser_id in done:
                continue
            orders = await connector.advertiser_insertion_orders(advertiser_id)
            if orders:
                segments += await self.offload(load_budgets, self.conninfo, org_id=partition.org_id,
                                               pipeline_id=partition.pipeline_id, insertion_orders=orders)
            done.add(advertiser_id)
            state.advance(budgets_done=sorted(done))
        self._budgets_refreshed[partition.pipeline_id] = datetime.now(UTC)
        return segments

    @activity.defn(name="request_report")
    @classified(retry_settings)
    async def request_report(self, params: RequestReportInput) -> ReportRef:
        return await self.request(params.execution_id, params.partition)

    async def load_pipeline(self, partition: PartitionRef) -> store.PipelineRecord:
        return await self.offload(store.load_pipeline, self.engine, partition.pipeline_id)

    async def request(self, execution_id: UUID, partition: PartitionRef,
                      pipeline: store.PipelineRecord | None = None, *, connector: Connector | None = None,
                      announced: bool = False) -> ReportRef:
        """Mark Bronze running (unless ``announced``) and ask the source for the partition's report.

        Resumable, see ``advance``. ``connector``: one the caller keeps open for the download too.
        """
        pipeline = pipeline or await self.load_pipeline(partition)
        if not announced:
            await self.offload(store.record_layer, self.engine, execution_id,
                               **bronze_started(pipeline, partition, execution_id))
        state = current_state()
        async with connected(pipeline, connector) as source:
            # A retry resumes after the last request that succeeded: never a second query for the day.
            handle = await source.request_report(partition.date, resume=state.checkpoint.get("report"),
                                                 on_step=lambda ids: state.advance(report=ids))
        return _to_ref(handle)

    @activity.defn(name="check_report")
    @classified(retry_settings)
    async def check_report(self, params: CheckReportInput) -> ReportRef:
        pipeline = await self.load_pipeline(params.partition)
        async with connected(pipeline) as source:
            handle = await source.report_status(_to_handle(params.report))
        if handle.state == "FAILED":
            raise DataError("the source reports the report as FAILED", query_id=handle.query_id,
                            report_id=handle.report_id)
        return _to_ref(handle)

    @activity.defn(name="ingest_to_bronze")
    @classified(retry_settings)
    async def ingest_to_bronze(self, params: IngestInput) -> BronzeOutcome:
        return await self.ingest(params.execution_id, params.partition, params.report)

    async def ingest(self, execution_id: UUID, partition: PartitionRef, report: ReportRef,
                     pipeline: store.PipelineRecord | None = None, *,
                     connector: Connector | None = None) -> BronzeOutcome:
        """Download a ready report (resuming a partial download) and land it in Bronze."""
        started = time.monotonic()
        pipeline = pipeline or await self.load_pipeline(partition)
        landing = self.landing_path(partition, execution_id)
        landing.parent.mkdir(parents=True, exist_ok=True)
        state = current_state()
        partial = landing.with_suffix(landing.suffix + ".partial")
        # Resume only from bytes that the previous attempt both wrote and heartbeated.
        resume_from = min(int(state.checkpoint.get("bytes", 0)), partial.stat().st_size if partial.exists() else 0)
        last_progress = [0.0]

        def on_progress(bytes_done: int) -> None:
            state.heartbeat(bytes=bytes_done)
            now = time.monotonic()
            if now - last_progress[0] >= PROGRESS_EVERY_S:
                last_progress[0] = now
                self.cpu_pool.submit(store.update_progress, self.engine, execution_id,
                                     {"layer": "bronze", "date": str(partition.date), "bytes_done": bytes_done})

        async with connected(pipeline, connector) as source:
            if not landing.exists():
                await source.download(_to_handle(report), landing, resume_from=resume_from,
                                      on_progress=on_progress)
            state.advance(downloaded=True)
            budget_segments = await self._refresh_budgets(source, partition, state)
        source_format = source_format_of(pipeline, report)
        bronze = await self.offload(land_to_bronze, self.lake, partition, execution_id=execution_id,
                                    source_format=source_format, raw_path=landing,
                                    ingested_at=datetime.now(UTC))
        outcome = BronzeOutcome(records=bronze.records, size_bytes=bronze.size_bytes,
                                duration_ms=int((time.monotonic() - started) * 1000),
                                totals=bronze.totals, source_format=source_format)
        await self.offload(
            store.record_layer, self.engine, execution_id, partition_date=partition.date, layer=Layer.BRONZE,
            outcome={"status": LayerStatus.COMPLETED.value, "records": outcome.records,
                     "size_bytes": outcome.size_bytes, "duration_ms": outcome.duration_ms},
            logs=[LogLine("info", f"Fetched {outcome.records} records",
                          {"date": str(partition.date), "bytes": outcome.size_bytes,
                           "budget_segments_refreshed": budget_segments})],
            ledger={"status": "running", "bronze_records": outcome.records},
            then=Layer.SILVER,  # Silver starts next, in run_partition
        )
        landing.unlink(missing_ok=True)  # Bronze now holds the rows; the raw file was only a landing spot
        metrics.record_layer("bronze", outcome.records, outcome.duration_ms / 1000)
        return outcome
