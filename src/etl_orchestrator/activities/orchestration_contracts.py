"""Inputs and results of the orchestration workflows (schedules, backfills, onboarding) and their activities.

Like ``contracts.py``: small and serialisable, never rows. Secrets never travel in plain text:
the onboarding's API key leaves its activity sealed with a one-time pad kept in PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from etl_orchestrator.activities.contracts import ETLInput, ETLResult, RunOptions

ORG_ID = SearchAttributeKey.for_keyword("OrgId")
PIPELINE_ID = SearchAttributeKey.for_keyword("PipelineId")
PARTITION_DATE = SearchAttributeKey.for_datetime("PartitionDate")


def etl_search_attributes(org_id: int, pipeline_id: UUID, start: date) -> TypedSearchAttributes:
    """What every ETL run carries (as ``trigger_execution`` sets them), so runs are found by org and pipeline."""
    return TypedSearchAttributes([
        SearchAttributePair(ORG_ID, str(org_id)),
        SearchAttributePair(PIPELINE_ID, str(pipeline_id)),
        SearchAttributePair(PARTITION_DATE, datetime.combine(start, time(), tzinfo=UTC)),
    ])


# ------------------------------------------------------------------------------------------ schedules


class ScheduledRunInput(BaseModel):
    """What a pipeline's Temporal Schedule starts on every fire (fixed when the schedule is applied)."""

    pipeline_id: UUID
    org_id: int
    schedule_id: str
    options: RunOptions = RunOptions()  # of the run's own bookkeeping; the ETL run gets the worker's


class ScheduledRunResult(BaseModel):
    logical_date: date | None = None
    execution_id: UUID | None = None
    status: str  # completed | failed | skipped | cancelled
    reason: str | None = None
    etl: ETLResult | None = None


class PrepareScheduledRunInput(BaseModel):
    pipeline_id: UUID
    schedule_id: str
    scheduled_at: datetime  # the schedule's nominal fire time (UTC), not when the run happened to start
    run_workflow_id: str  # the scheduled run's workflow id: the seed of its execution id


class PreparedExecution(BaseModel):
    """The execution a scheduled run drives, recorded in ``etl_executions`` before its workflow starts."""

    logical_date: date
    execution_id: UUID | None = None
    workflow_id: str | None = None
    params: ETLInput | None = None  # None: nothing to start
    reason: str | None = None  # why nothing starts (another live execution holds the range)


# ------------------------------------------------------------------------------------------ backfills


class BackfillCursor(BaseModel):
    """Where a backfill is, carried through continue-as-new."""

    next_index: int = 0  # dates before this index were planned (started, skipped or cancelled)
    done: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    failed_dates: list[date] = Field(default_factory=list)
    started_at: datetime | None = None
    run_no: int = 1
    paused: bool = False


class BackfillInput(BaseModel):
    backfill_id: UUID
    org_id: int
    pipeline_id: UUID
    start: date
    end: date
    parallelism: int = 4
    force: bool = False
    # Continue-as-new after this many finished children, so history stays bounded however long the range.
    children_per_run: int = 100
    options: RunOptions = RunOptions()  # task_queue: the backfill queue, so backfills never delay schedules
    cursor: BackfillCursor = BackfillCursor()


class BackfillResult(BaseModel):
    backfill_id: UUID
    status: str  # completed | failed | cancelled
    done: int
    failed: int
    skipped: int
    cancelled: int
    failed_dates: list[date] = Field(default_factory=list)


class PlanPartitionsInput(BaseModel):
    backfill_id: UUID
    org_id: int
    pipeline_id: UUID
    dates: list[date]  # the next dates of the range, in order
    limit: int  # create executions for at most this many (the free slots); skipped dates are free
    force: bool = False


class PlannedPartition(BaseModel):
    date: date
    skip: bool  # already completed in the partition ledger (and not forced)
    execution_id: UUID | None = None
    workflow_id: str | None = None


class PlanPartitionsResult(BaseModel):
    partitions: list[PlannedPartition]  # a prefix of the dates asked about: skipped and runnable ones


class BackfillStatusInput(BaseModel):
    backfill_id: UUID
    status: str
    progress: dict[str, Any]
    error: str | None = None
    final: bool = False


class BackfillStatusResult(BaseModel):
    cancelled_executions: int = 0


# ------------------------------------------------------------------------------------------ onboarding


class PipelineSpec(BaseModel):
    """A pipeline an onboarding creates (the default: "DV360 Daily" at 06:00 UTC)."""

    name: str = Field("DV360 Daily", min_length=1, max_length=200)
    schedule_cron: str | None = "0 6 * * *"
    schedule_timezone: str = "UTC"
    restatement_days: int = Field(7, ge=0, le=60)
    catchup_window_s: int = Field(3600, ge=10, le=30 * 86400)
    quality_rules: list[dict[str, Any]] | None = None


class OnboardingInput(BaseModel):
    """Only the id: the request (with the source's credentials) stays in the ``onboardings`` row."""

    onboarding_id: UUID
    options: RunOptions = RunOptions()


class OnboardingResult(BaseModel):
    onboarding_id: UUID
    status: str  # completed | failed
    org_id: int | None = None
    api_key_id: str | None = None
    sealed_api_key: str | None = None  # the key XOR a one-time pad that only PostgreSQL holds
    pipeline_ids: list[UUID] = Field(default_factory=list)
    backfill_ids: list[UUID] = Field(default_factory=list)
    error: str | None = None


class OnboardingStepInput(BaseModel):
    """Every onboarding activity gets the step to do (or undo) and what earlier steps produced."""

    onboarding_id: UUID
    step: str
    org_id: int | None = None
    pipeline_ids: list[UUID] = Field(default_factory=list)
    backfill_ids: list[UUID] = Field(default_factory=list)
    api_key_id: str | None = None
    today: date | None = None  # the workflow's date, so a retried step computes the same range


class OnboardingStepResult(BaseModel):
    org_id: int | None = None
    api_key_id: str | None = None
    sealed_api_key: str | None = None
    pipeline_ids: list[UUID] = Field(default_factory=list)
    backfill_ids: list[UUID] = Field(default_factory=list)
    detail: str | None = None


class StepStateInput(BaseModel):
    onboarding_id: UUID
    step: str
    status: str  # running | completed | failed | compensated | skipped
    detail: str | None = None
    org_id: int | None = None
    final_status: str | None = None  # set the onboarding's status too (completed | failed)
    error: str | None = None


class StepStateResult(BaseModel):
    recorded: bool = True
