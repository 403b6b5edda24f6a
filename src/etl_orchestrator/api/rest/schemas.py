"""Request and response bodies of the REST API, in the seed's shapes (they drive /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecutionStatusFilter(StrEnum):
    scheduled = "scheduled"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class DateRange(Body):
    start: date = Field(description="First report date (YYYY-MM-DD).")
    end: date = Field(description="Last report date, inclusive.")


class TriggerParameters(Body):
    date_range: DateRange | None = Field(None, description="Report dates to process; default: yesterday (UTC).")
    force: bool = Field(False, description="Reprocess partitions that already completed.")


class TriggerRequest(Body):
    pipeline_id: UUID
    parameters: TriggerParameters = TriggerParameters()


class TriggerResponse(BaseModel):
    execution_id: UUID
    status: str = Field(description="scheduled for a new execution; the existing execution's status otherwise.")
    estimated_start: datetime


class BronzeLayer(BaseModel):
    status: str
    records: int
    size_mb: float
    duration_ms: int


class SilverLayer(BaseModel):
    status: str
    records: int
    records_filtered: int
    duration_ms: int


class GoldLayer(BaseModel):
    status: str
    tables_updated: list[str]
    duration_ms: int


class Layers(BaseModel):
    bronze: BronzeLayer
    silver: SilverLayer
    gold: GoldLayer


class Execution(BaseModel):
    id: UUID
    pipeline_id: UUID
    pipeline_name: str
    status: str
    layers: Layers
    total_duration_ms: int | None
    started_at: str | None
    completed_at: str | None


class ExecutionList(BaseModel):
    executions: list[Execution]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class ExecutionDetail(Execution):
    org_id: int
    trigger: str
    date_range: dict[str, str]
    force: bool
    current_layer: str | None
    records_processed: int | None
    records_failed: int | None
    size_bytes: int | None
    error: str | None
    progress: dict | None
    partitions: dict


class LogEntry(BaseModel):
    timestamp: str
    level: str
    layer: str | None
    message: str


class LogList(BaseModel):
    logs: list[LogEntry]


class QualityWindow(BaseModel):
    total_records: int
    valid_records: int
    quality_score: float | None
    issues: dict[str, int]


class PipelineQuality(BaseModel):
    pipeline_id: UUID
    pipeline_name: str | None
    quality_score: float | None
    issues: int


class QualityReport(BaseModel):
    quality_metrics: dict[str, QualityWindow]
    by_pipeline: list[PipelineQuality]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
