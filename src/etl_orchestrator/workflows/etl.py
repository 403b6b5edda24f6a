"""ETLWorkflow: one execution of a pipeline over a date range, Bronze → Silver → Gold → Notify per partition.

Each partition is one ``run_partition`` activity that runs every layer as a resumable step
(``activities/partition.py``); only a report the source is still preparing sends the partition
through DataIngestionWorkflow, which waits for it on durable timers, before Silver and Gold.

Partitions run concurrently up to ``options.partition_parallelism``. A partition that fails is
recorded and the others go on; the execution then ends ``failed`` naming the failed dates.
Cancelling the workflow cancels its activities and marks the execution ``cancelled``.

Opening, closing and failure bookkeeping are one short PostgreSQL write each: they run as local
activities, inside the workflow task, which saves two task round trips per execution. An execution
of one day leaves opening and closing to its run_partition activity and needs no local activity
unless the partition fails.
"""

from __future__ import annotations

import asyncio
from datetime import date

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.contracts import (
        BeginInput,
        ETLInput,
        ETLResult,
        FinishInput,
        IngestionInput,
        PartitionFailureInput,
        PartitionInput,
        PartitionResult,
    )
    from etl_orchestrator.activities.layers import LayerActivities
    from etl_orchestrator.activities.partition import PartitionActivities
    from etl_orchestrator.domain.partition import PartitionRef, dates_in_range
    from etl_orchestrator.workflows.common import failure_message, long_activity, short_activity
    from etl_orchestrator.workflows.ingestion import DataIngestionWorkflow


@workflow.defn(name="ETLWorkflow")
class ETLWorkflow:
    def __init__(self) -> None:
        self._partitions: dict[str, str] = {}
        self._status = "scheduled"
        self._closed_status: str | None = None  # set when a sole partition's activity closed the execution

    @workflow.query
    def progress(self) -> dict:
        states = list(self._partitions.values())
        return {
            "status": self._status,
            "partitions": dict(self._partitions),
            "done": sum(state in ("completed", "failed") for state in states),
            "failed": sum(state == "failed" for state in states),
            "total": len(states),
        }

    @workflow.run
    async def run(self, params: ETLInput) -> ETLResult:
        options = params.options
        info = workflow.info()
        dates = dates_in_range(params.start, params.end)
        slots = asyncio.Semaphore(options.partition_parallelism)
        # One day (what schedules and backfills run): its run_partition opens and closes the execution.
        sole = len(dates) == 1

        async def bounded(day: date) -> PartitionResult:
            async with slots:
                return await self._run_partition(params, day, sole=sole)

        try:
            if not sole:
                started = await workflow.execute_local_activity_method(
                    LayerActivities.begin_execution,
                    BeginInput(execution_id=params.execution_id, workflow_id=info.workflow_id, run_id=info.run_id),
                    **short_activity(options))
                if not started:
                    return ETLResult(execution_id=params.execution_id, status="skipped")
            self._status = "running"
            self._partitions = {d.isoformat(): "pending" for d in dates}
            results = await asyncio.gather(*(bounded(day) for day in dates))
        except asyncio.CancelledError:
            # Cancelled at any point, even while the execution was being opened: close it as cancelled.
            self._status = "cancelled"
            await workflow.execute_local_activity_method(
                LayerActivities.finish_execution, FinishInput(execution_id=params.execution_id, cancelled=True),
                **short_activity(options))
            raise
        if sole and results[0].status == "skipped":
            return ETLResult(execution_id=params.execution_id, status="skipped")
        if self._closed_status is None:
            self._closed_status = await workflow.execute_local_activity_method(
                LayerActivities.finish_execution, FinishInput(execution_id=params.execution_id),
                **short_activity(options))
        self._status = self._closed_status
        return ETLResult(execution_id=params.execution_id, status=self._status, partitions=list(results))

    async def _run_partition(self, params: ETLInput, day: date, *, sole: bool) -> PartitionResult:
        options = params.options
        partition = PartitionRef(org_id=params.org_id, pipeline_id=params.pipeline_id, date=day)
        key = day.isoformat()
        step = PartitionInput(execution_id=params.execution_id, partition=partition, mode=params.mode,
                              force=params.force, pacing=not params.defer_pacing, sole=sole)
        try:
            self._partitions[key] = "running"
            run = await workflow.execute_activity_method(PartitionActivities.run_partition, step,
                                                         **long_activity(options))
            if run.pending_report is not None:
                self._partitions[key] = "bronze"
                bronze = await workflow.execute_child_workflow(
                    DataIngestionWorkflow.run,
                    IngestionInput(execution_id=params.execution_id, partition=partition, options=options,
                                   report=run.pending_report),
                    id=f"ingest:{params.execution_id}:{key}", task_queue=options.task_queue)
                self._partitions[key] = "running"
                run = await workflow.execute_activity_method(
                    PartitionActivities.run_partition, step.model_copy(update={"bronze": bronze}),
                    **long_activity(options))
        except (ActivityError, ChildWorkflowError) as error:
            message = failure_message(error)
            self._partitions[key] = "failed"
            await workflow.execute_local_activity_method(
                LayerActivities.record_partition_failure,
                PartitionFailureInput(execution_id=params.execution_id, partition=partition, error=message),
                **short_activity(options))
            return PartitionResult(date=day, status="failed", error=message)
        if run.skipped:
            return PartitionResult(date=day, status="skipped")
        self._closed_status = run.execution_status
        status = "failed" if run.execution_status == "failed" else "completed"
        self._partitions[key] = status
        return PartitionResult(date=day, status=status, bronze=run.bronze, silver=run.silver, gold=run.gold,
                               recovered=run.recovered)
