"""Request and response bodies of the REST API, in the seed's shapes (they drive /openapi.json).

Requests forbid unknown fields, so a typo is a 422 naming it rather than a silently ignored key.
Responses describe exactly what the service layer returns; the fuzz test holds the server to them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from etl_orchestrator.domain.enums import SourceKind


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------ executions


class ExecutionStatusFilter(StrEnum):
    scheduled = "scheduled"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class DateRange(Body):
    start: date = Field(description="First report date (YYYY-MM-DD).")
    end: date = Field(description="Last report date, inclusive; not before `start`.")

    @field_validator("end")
    @classmethod
    def _not_before_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"end ({end}) is before start ({start})")
        return end


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


class LayerProgress(BaseModel):
    done: int = Field(description="Partitions through this layer (completed, skipped or failed in it).")
    failed: int = Field(description="Partitions that failed in this layer.")
    total: int = Field(description="Partitions of the execution.")


class ExecutionDetail(Execution):
    org_id: int
    trigger: str = Field(description="manual | schedule | backfill | retry | replay")
    mode: str = Field(description="full (from the source) or replay (quarantined rows re-judged).")
    date_range: dict[str, str]
    force: bool
    current_layer: str | None
    records_processed: int | None
    records_failed: int | None
    size_bytes: int | None
    error: str | None
    progress: dict[str, Any] | None = Field(description="Live counters of the running activity (advisory).")
    partitions: dict[str, Any] = Field(description="Per report date, each layer's outcome.")
    layer_progress: dict[str, LayerProgress] = Field(description="Per layer: partitions done of total.")


class CancelResponse(BaseModel):
    execution_id: UUID
    status: str = Field(description="cancelled when it had not begun; otherwise its status until the "
                                    "workflow stops (then cancelled).")
    cancel_requested: bool


class LogEntry(BaseModel):
    timestamp: str
    level: str
    layer: str | None
    message: str


class LogList(BaseModel):
    logs: list[LogEntry]


# ------------------------------------------------------------------------------------------ data quality


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


# ------------------------------------------------------------------------------------------ organizations


class OrganizationCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                             description="URL-safe unique name; derived from `name` if omitted.")
    key_name: str = Field("default", min_length=1, max_length=200, description="Name of the first API key.")


class Organization(BaseModel):
    id: int
    name: str
    slug: str
    status: str
    created_at: datetime
    updated_at: datetime


class OrganizationList(BaseModel):
    organizations: list[Organization]
    next_cursor: str | None


class ApiKeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)


class ApiKey(BaseModel):
    id: UUID
    org_id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself. Shown this once: only its hash is stored.")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKey]


class OrganizationCreated(BaseModel):
    organization: Organization
    api_key: ApiKeyCreated


# ------------------------------------------------------------------------------------------ pipelines


class PipelineFields(Body):
    schedule_cron: str | None = Field(None, max_length=100, examples=["0 6 * * *"],
                                      description="Cron (5 fields or @daily…); null: no schedule.")
    schedule_timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA time zone of the cron.")
    catchup_window_s: int = Field(3600, ge=0, le=7 * 86400,
                                  description="Fires missed while Temporal was down run late if younger than this.")
    restatement_days: int = Field(7, ge=0, le=60, description="Trailing days a scheduled run re-pulls.")
    quality_rules: list[dict[str, Any]] | None = Field(
        None, description="Silver's rules (see quality/rules.py); null or [] means the default rules.")
    webhook_url: str | None = Field(None, max_length=2000, description="POSTed every event of the pipeline.")
    webhook_secret: str | None = Field(None, min_length=1, max_length=200,
                                       description="Signs webhook bodies. Write-only: never returned.")
    enabled: bool = True


class PipelineCreate(PipelineFields):
    name: str = Field(min_length=1, max_length=200)
    source_kind: SourceKind
    source_config: dict[str, Any] = Field(description="The connector's settings (validated per source kind).")
    org_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Admin keys only: the owning organization.")


class PipelineUpdate(Body):
    """Only the fields present change; `source_config` is merged into the stored one (null removes a key)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    source_kind: SourceKind | None = None
    source_config: dict[str, Any] | None = None
    schedule_cron: str | None = Field(None, max_length=100)
    schedule_timezone: str | None = Field(None, min_length=1, max_length=64)
    catchup_window_s: int | None = Field(None, ge=0, le=7 * 86400)
    restatement_days: int | None = Field(None, ge=0, le=60)
    quality_rules: list[dict[str, Any]] | None = None
    webhook_url: str | None = Field(None, max_length=2000)
    webhook_secret: str | None = Field(None, min_length=1, max_length=200)
    enabled: bool | None = None


class Pipeline(BaseModel):
    id: UUID
    org_id: int
    name: str
    source_kind: str
    source_config: dict[str, Any] = Field(description="Secrets (token, password, …) are masked.")
    schedule_cron: str | None
    schedule_timezone: str
    schedule_state: str = Field(description="none | active | paused (mirrors the Temporal Schedule).")
    schedule_id: str | None
    catchup_window_s: int
    restatement_days: int
    quality_rules: list[dict[str, Any]]
    webhook_url: str | None
    webhook_secret_set: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class PipelineList(BaseModel):
    pipelines: list[Pipeline]
    next_cursor: str | None


# ------------------------------------------------------------------------------------------ schedules


class PauseRequest(Body):
    note: str | None = Field(None, max_length=500, description="Why; shown in the schedule.")


class ScheduledRun(BaseModel):
    scheduled_at: str | None
    started_at: str | None
    workflow_id: str | None


class ScheduleView(BaseModel):
    pipeline_id: UUID
    schedule_id: str | None
    state: str = Field(description="none | active | paused")
    cron: str | None
    timezone: str
    catchup_window_s: int
    overlap: str
    note: str | None
    next_runs: list[str]
    recent_runs: list[ScheduledRun]
    running: list[str]
    skipped_runs: int
    last_scheduled_at: str | None
    triggered_at: str | None = Field(None, description="Set by the trigger action only.")


# ------------------------------------------------------------------------------------------ backfills


class BackfillCreate(Body):
    pipeline_id: UUID
    date_range: DateRange
    parallelism: int = Field(4, ge=1, le=64, description="Partitions run at once.")
    force: bool = Field(False, description="Also re-run partitions that already completed.")


class BackfillProgress(BaseModel):
    model_config = ConfigDict(extra="allow")

    done: int
    failed: int
    running: int
    remaining: int
    skipped: int
    cancelled: int
    total: int
    eta_s: float | None = Field(description="Estimated seconds to go, from the pace so far.")
    running_dates: list[str] = []
    failed_dates: list[str] = []


class Backfill(BaseModel):
    backfill_id: UUID
    pipeline_id: UUID
    org_id: int
    workflow_id: str
    status: str = Field(description="running | paused | cancelling | completed | failed | cancelled")
    date_range: dict[str, str]
    parallelism: int
    force: bool
    progress: BackfillProgress
    error: str | None
    created_at: str | None
    updated_at: str | None
    completed_at: str | None


class BackfillList(BaseModel):
    backfills: list[Backfill]
    next_cursor: str | None


# ------------------------------------------------------------------------------------------ quarantine


class QuarantinedRow(BaseModel):
    org_id: int
    pipeline_id: UUID
    date: date
    row_number: int
    source_format: str
    rules: list[str] = Field(description="The rules the row broke.")
    reasons: list[str] = Field(description="Why, in words, one per rule.")
    raw: dict[str, Any] = Field(description="The row's values as received.")
    ingested_at: datetime
    source_file: str
    quarantined_by: str = Field(description="The execution that quarantined it.")
    quarantined_at: datetime


class QuarantinePage(BaseModel):
    rows: list[QuarantinedRow]
    total: int
    limit: int
    offset: int


class ReplayRequest(Body):
    date_range: DateRange


# ------------------------------------------------------------------------------------------ onboarding


class OnboardingStarted(BaseModel):
    onboarding_id: UUID
    status: str
    workflow_id: str


class OnboardingStep(BaseModel):
    name: str
    status: str = Field(description="pending | running | completed | failed | compensated")
    detail: str | None


class Onboarding(BaseModel):
    onboarding_id: UUID
    workflow_id: str
    status: str = Field(description="running | completed | failed")
    org_id: int | None
    steps: list[OnboardingStep]
    compensated: bool = Field(description="A step failed and the completed ones were undone.")
    error: str | None
    pipeline_ids: list[UUID]
    backfill_ids: list[UUID]
    api_key: str | None = Field(description="The new organization's key: in the first answer after completion "
                                            "only, and only to the admin key that started the onboarding.")
    api_key_delivered: bool
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------------------------------ errors


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; `field` names the input at fault."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldError] | None = None
