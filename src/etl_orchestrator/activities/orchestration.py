"""Activities of the scheduled run and of BackfillWorkflow: thin wrappers over the service layer.

They run the same service functions the API runs, with the worker's settings, an async engine of
their own and the worker's Temporal client (to read a schedule's counters).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from etl_orchestrator.activities.base import ActivityBase, retry_settings
from etl_orchestrator.activities.orchestration_contracts import (
    BackfillStatusInput,
    BackfillStatusResult,
    PlanPartitionsInput,
    PlanPartitionsResult,
    PreparedExecution,
    PrepareScheduledRunInput,
)
from etl_orchestrator.activities.retrying import classified
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.service import backfills, schedules
from etl_orchestrator.service.context import ServiceContext

SERVICE_POOL_SIZE = 4


class ServiceActivities(ActivityBase):
    """Base of activities that call the service layer: a ``ServiceContext`` built once, lazily."""

    def __init__(self, *args, temporal: Client, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.temporal = temporal
        self._ctx: ServiceContext | None = None

    @property
    def ctx(self) -> ServiceContext:
        if self._ctx is None:  # created on first use, inside the worker's event loop
            engine = make_async_engine(self.settings.database.url, pool_size=SERVICE_POOL_SIZE)
            self._ctx = ServiceContext(settings=self.settings, engine=engine, temporal=self.temporal)
        return self._ctx


class OrchestrationActivities(ServiceActivities):
    @activity.defn(name="prepare_scheduled_run")
    @classified(retry_settings)
    async def prepare_scheduled_run(self, params: PrepareScheduledRunInput) -> PreparedExecution:
        return await schedules.prepare_scheduled_run(self.ctx, params)

    @activity.defn(name="plan_backfill_partitions")
    @classified(retry_settings)
    async def plan_backfill_partitions(self, params: PlanPartitionsInput) -> PlanPartitionsResult:
        return await backfills.plan_partitions(self.ctx, params)

    @activity.defn(name="record_backfill_status")
    @classified(retry_settings)
    async def record_backfill_status(self, params: BackfillStatusInput) -> BackfillStatusResult:
        return await backfills.record_backfill_status(self.ctx, params)
