"""``run_partition``: one partition through Bronze → Silver → Gold in a single activity.

Why one activity and not one per layer: on the dev stack a one-row partition spent more time in
Temporal round trips (a workflow task, a dispatch, a heartbeat per activity, a child workflow for
the ingestion) than in its layers, and the worker's CPU went to workflow tasks rather than data.
Each layer is still a step of its own: its status is written to PostgreSQL as it starts and ends,
and once a step finishes it is checkpointed in the heartbeat details (``ActivityState.advance``),
so a retry resumes at the next step with fresh retry budgets, as separate activities would.

The one wait that must not hold a worker slot is a report the source is still preparing: then the
activity returns it as ``pending_report``, DataIngestionWorkflow waits for it on durable timers and
lands it, and ``run_partition`` runs again from Silver.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

from etl_orchestrator.activities.base import ActivityBase, retry_settings
from etl_orchestrator.activities.contracts import (
    REPORT_READY_STATES,
    BeginInput,
    BronzeOutcome,
    GoldInput,
    PartitionInput,
    PartitionRun,
    SilverInput,
    SilverOutcome,
)
from etl_orchestrator.activities.ingestion import IngestionActivities, bronze_started, connected
from etl_orchestrator.activities.layers import LayerActivities
from etl_orchestrator.activities.retrying import classified, current_state
from etl_orchestrator.config import Settings
from etl_orchestrator.domain.enums import ExecutionStatus

M = TypeVar("M", bound=BaseModel)


def _restored(model: type[M], checkpoint: dict, key: str) -> M | None:
    value = checkpoint.get(key)
    return model.model_validate(value) if value is not None else None


class PartitionActivities(ActivityBase):
    def __init__(self, settings: Settings, *, cpu_pool: ThreadPoolExecutor, ingestion: IngestionActivities,
                 layers: LayerActivities) -> None:
        super().__init__(settings, cpu_pool=cpu_pool, engine=layers.engine)
        self.ingestion = ingestion
        self.layers = layers

    @activity.defn(name="run_partition")
    @classified(retry_settings)
    async def run_partition(self, params: PartitionInput) -> PartitionRun:
        state = current_state()
        pipeline = await self.ingestion.load_pipeline(params.partition)
        bronze = params.bronze or _restored(BronzeOutcome, state.checkpoint, "bronze")
        fetch = params.mode == "full" and bronze is None
        announced = False
        if params.sole and params.bronze is None:  # with Bronze given, the first call opened it
            info = activity.info()
            # Opening the execution also marks its Bronze running: one transaction, not two.
            starting = bronze_started(pipeline, params.partition, params.execution_id) if fetch else None
            over = await self.layers.open(BeginInput(execution_id=params.execution_id,
                                                     workflow_id=info.workflow_id, run_id=info.workflow_run_id),
                                          starting=starting)
            if over == ExecutionStatus.CANCELLED.value:
                return PartitionRun(skipped=True)
            if over is not None:
                # Only this activity closes a sole partition's execution: an earlier attempt did every
                # layer and closed it, then died before reporting. Its work stands; say how it ended.
                return PartitionRun(execution_status=over, recovered=True)
            announced = starting is not None
        if fetch:
            # One connector for the report and its file; its sockets come from the loop's shared pool.
            async with connected(pipeline) as source:
                report = await self.ingestion.request(params.execution_id, params.partition, pipeline,
                                                      connector=source, announced=announced)
                if report.state not in REPORT_READY_STATES:
                    return PartitionRun(pending_report=report)
                bronze = await self.ingestion.ingest(params.execution_id, params.partition, report, pipeline,
                                                     connector=source)
            state.advance(bronze=bronze.model_dump(mode="json"))
        silver = _restored(SilverOutcome, state.checkpoint, "silver")
        if silver is None:
            silver = await self.layers.silver(SilverInput(
                execution_id=params.execution_id, partition=params.partition,
                source_format=bronze.source_format if bronze else None, totals=bronze.totals if bronze else None,
                force=params.force, replay=params.mode == "replay"), pipeline)
            state.advance(silver=silver.model_dump(mode="json"))
        gold, status = await self.layers.gold(GoldInput(execution_id=params.execution_id, partition=params.partition,
                                                        skip=silver.unchanged, pacing=params.pacing),
                                              close=params.sole)
        return PartitionRun(bronze=bronze, silver=silver, gold=gold, execution_status=status)
