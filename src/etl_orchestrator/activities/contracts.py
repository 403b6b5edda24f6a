"""Inputs and results of activities and workflows: small, serialisable, never rows of data."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from etl_orchestrator.config import RetrySettings
from etl_orchestrator.domain.partition import PartitionRef


class RunOptions(BaseModel):
    """Settings a workflow needs, fixed when the run starts (workflow code must not read config)."""

    task_queue: str = "etl-workers"
    activity_timeout: timedelta = timedelta(minutes=30)
    heartbeat_timeout: timedelta = timedelta(seconds=30)
    short_timeout: timedelta = timedelta(seconds=60)
    retry: RetrySettings = RetrySettings()
    poll_initial: timedelta = timedelta(seconds=5)
    poll_max: timedelta = timedelta(minutes=5)
    report_timeout: timedelta = timedelta(hours=2)
    partition_parallelism: int = 4


# A report in one of these states can be downloaded; any other (but FAILED) is still being prepared.
REPORT_READY_STATES = ("DONE",)


class ReportRef(BaseModel):
    """A source report being prepared (mirrors the connector's handle, no secrets)."""

    source: str
    state: str
    query_id: str | None = None
    report_id: str | None = None
    download_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class BeginInput(BaseModel):
    execution_id: UUID
    workflow_id: str
    run_id: str | None = None


class RequestReportInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef


class CheckReportInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    report: ReportRef


class IngestInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    report: ReportRef


class BronzeOutcome(BaseModel):
    records: int
    size_bytes: int
    duration_ms: int
    totals: dict[str, str] | None = None
    source_format: str


class SilverInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    source_format: str | None = None
    totals: dict[str, str] | None = None
    force: bool = False
    replay: bool = False  # re-judge the partition's quarantined rows instead of rebuilding from Bronze


class SilverOutcome(BaseModel):
    records_in: int
    records: int
    quarantined: int
    duplicates_removed: int
    content_hash: str
    unchanged: bool
    duration_ms: int


class GoldInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    skip: bool = False
    # False: the caller recomputes pacing once for many partitions (a backfill), see PacingInput.
    pacing: bool = True


class PacingInput(BaseModel):
    """Recompute a pipeline's pacing_metrics as of its latest Gold day (after partitions loaded without)."""

    org_id: int
    pipeline_id: UUID
    execution_id: UUID | None = None


class GoldOutcome(BaseModel):
    records: int
    tables_updated: list[str]
    skipped: bool
    duration_ms: int


class PartitionFailureInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    layer: str | None = None  # None: the first layer the partition did not finish
    error: str


class FinishInput(BaseModel):
    execution_id: UUID
    error: str | None = None
    cancelled: bool = False


class ETLInput(BaseModel):
    """One execution: a pipeline over a date range (one partition per date)."""

    execution_id: UUID
    org_id: int
    pipeline_id: UUID
    start: date
    end: date
    force: bool = False
    # full: ingest → silver → gold. replay: quarantined rows re-judged with today's rules → silver → gold.
    mode: Literal["full", "replay"] = "full"
    # A backfill's children leave pacing to their parent: each one would recompute every budget
    # segment of the pipeline over all its days, only for the next child to do it again.
    defer_pacing: bool = False
    options: RunOptions = RunOptions()


class PartitionResult(BaseModel):
    date: date
    status: str
    bronze: BronzeOutcome | None = None
    silver: SilverOutcome | None = None
    gold: GoldOutcome | None = None
    error: str | None = None
    recovered: bool = False  # finished by an attempt whose result was lost: its outcomes are unknown here


class ETLResult(BaseModel):
    execution_id: UUID
    status: str
    partitions: list[PartitionResult] = Field(default_factory=list)


class IngestionInput(BaseModel):
    execution_id: UUID
    partition: PartitionRef
    options: RunOptions = RunOptions()
    report: ReportRef | None = None  # already requested (by run_partition): wait for it, then download


class PartitionInput(BaseModel):
    """One partition through every layer, in one ``run_partition`` activity."""

    execution_id: UUID
    partition: PartitionRef
    mode: Literal["full", "replay"] = "full"
    force: bool = False
    pacing: bool = True
    # Bronze already landed by DataIngestionWorkflow (the report had to be waited for): Silver and Gold only.
    bronze: BronzeOutcome | None = None
    # The execution's only partition (a single day, as schedules and backfills run): the activity
    # opens and closes the execution itself, which spares the workflow two local activities.
    sole: bool = False


class PartitionRun(BaseModel):
    """What ``run_partition`` did: every layer's outcome, or the report it must wait for first."""

    pending_report: ReportRef | None = None
    bronze: BronzeOutcome | None = None
    silver: SilverOutcome | None = None
    gold: GoldOutcome | None = None
    skipped: bool = False  # a sole partition whose execution was cancelled before it began: nothing was done
    execution_status: str | None = None  # a sole partition's execution, closed by the activity
    # A sole partition's execution closed by an earlier attempt of this activity, which then died
    # before Temporal heard its result (a killed worker): execution_status says how it ended.
    recovered: bool = False
