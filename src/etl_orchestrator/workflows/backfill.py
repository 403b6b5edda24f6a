"""BackfillWorkflow: a pipeline's date range as one child ``ETLWorkflow`` per date, ``parallelism`` at a time.

- Runs on the backfill task queue (and starts its children there), so a year of history never
  takes a worker slot from the daily schedules.
- Plans dates in order through an activity that skips partitions the ledger says are completed
  (unless forced) and records an execution row per runnable date (uuid5 ids: idempotent).
- Continues as new after ``children_per_run`` finished children (or when Temporal suggests it),
  after draining the running ones, carrying the cursor: history stays bounded for any range.
- ``progress`` query; ``pause`` / ``resume`` updates (running children finish, no new ones start);
  cancelling the workflow cancels the running children (each marks its execution cancelled) and
  marks the planned-but-unstarted ones cancelled.
- Mirrors status and progress into the ``backfills`` row every few children and at the end.
- Its children load Gold without pacing; it recomputes ``pacing_metrics`` once per run (before it
  continues as new, and at the end, cancelled included) if any child loaded a partition: per child,
  every budget segment of the pipeline would be recomputed over all its days, 365 times for a year.
"""

from __future__ import annotations

import asyncio
from datetime import date
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.contracts import ETLInput, ETLResult, FinishInput, PacingInput
    from etl_orchestrator.activities.layers import LayerActivities
    from etl_orchestrator.activities.orchestration import OrchestrationActivities
    from etl_orchestrator.activities.orchestration_contracts import (
        BackfillCursor,
        BackfillInput,
        BackfillResult,
        BackfillStatusInput,
        PlannedPartition,
        PlanPartitionsInput,
        etl_search_attributes,
    )
    from etl_orchestrator.domain.partition import dates_in_range
    from etl_orchestrator.workflows.common import failure_message, short_activity
    from etl_orchestrator.workflows.etl import ETLWorkflow

# Dates looked at per planning call: skipped (completed) dates cost no slot, so look further ahead.
PLAN_LOOKAHEAD = 64


@workflow.defn(name="BackfillWorkflow")
class BackfillWorkflow:
    def __init__(self) -> None:
        self._cursor = BackfillCursor()
        self._total = 0
        self._running: dict[date, asyncio.Task] = {}
        self._executions: dict[date, UUID] = {}
        self._paused = False
        self._status = "running"
        self._pacing_stale = False  # a child loaded Gold since pacing was last recomputed

    # -------------------------------------------------------------------------------- handlers

    @workflow.query
    def progress(self) -> dict:
        cursor = self._cursor
        finished = cursor.done + cursor.failed + cursor.skipped + cursor.cancelled
        running = len(self._running)
        remaining = max(self._total - finished - running, 0)
        eta_s = None
        worked = cursor.done + cursor.failed
        if cursor.started_at is not None and worked:
            elapsed = (workflow.now() - cursor.started_at).total_seconds()
            eta_s = round(elapsed / worked * (remaining + running), 1)
        return {
            "status": self._status, "done": cursor.done, "failed": cursor.failed, "running": running,
            "remaining": remaining, "skipped": cursor.skipped, "cancelled": cursor.cancelled, "total": self._total,
            "eta_s": eta_s, "running_dates": sorted(day.isoformat() for day in self._running),
            "failed_dates": [day.isoformat() for day in cursor.failed_dates], "run_no": cursor.run_no,
        }

    @workflow.update
    def pause(self) -> dict:
        self._paused = True
        self._status = "paused"
        return self.progress()

    @workflow.update
    def resume(self) -> dict:
        self._paused = False
        self._status = "running"
        return self.progress()

    # -------------------------------------------------------------------------------- run

    @workflow.run
    async def run(self, params: BackfillInput) -> BackfillResult:
        self._cursor = params.cursor.model_copy(deep=True)
        if self._cursor.started_at is None:
            self._cursor.started_at = workflow.now()
        self._paused = self._cursor.paused
        self._status = "paused" if self._paused else "running"
        dates = dates_in_range(params.start, params.end)
        self._total = len(dates)
        try:
            continue_as_new = await self._run_window(params, dates)
        except asyncio.CancelledError:
            await self._cancel_children(params)
            self._status = "cancelled"
            # A child cancelled after its Gold load reports no result: refresh whether or not any did.
            await self._refresh_pacing(params, always=True)
            await self._report(params, final=True)
            raise
        await self._refresh_pacing(params)
        if continue_as_new:
            # Children are bound to this run: they were drained; handlers must finish before we go.
            await workflow.wait_condition(workflow.all_handlers_finished)
            self._cursor.run_no += 1
            self._cursor.paused = self._paused
            await self._report(params)
            workflow.continue_as_new(params.model_copy(update={"cursor": self._cursor}))
        cursor = self._cursor
        self._status = "failed" if cursor.failed else "completed"
        error = None
        if cursor.failed:
            failed = ", ".join(day.isoformat() for day in cursor.failed_dates[:20])
            error = f"{cursor.failed} partition(s) failed: {failed}"
        await self._report(params, final=True, error=error)
        return BackfillResult(backfill_id=params.backfill_id, status=self._status, done=cursor.done,
                              failed=cursor.failed, skipped=cursor.skipped, cancelled=cursor.cancelled,
                              failed_dates=cursor.failed_dates)

    async def _run_window(self, params: BackfillInput, dates: list[date]) -> bool:
        """Keep up to ``parallelism`` children running until the range is done; True: continue as new."""
        finished_this_run = 0
        last_report = 0
        cursor = self._cursor
        while True:
            rollover = (finished_this_run >= params.children_per_run
                        or workflow.info().is_continue_as_new_suggested())
            free = params.parallelism - len(self._running)
            if not self._paused and not rollover and free > 0 and cursor.next_index < len(dates):
                await self._start_next(params, dates, free)
                continue
            if not self._running:
                if cursor.next_index >= len(dates):
                    return False
                if rollover:
                    return True
                # Paused with nothing running: report it once, then sleep until resumed.
                await self._report(params)
                await workflow.wait_condition(lambda: not self._paused)
                continue
            finished, _ = await workflow.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)
            for day in [day for day, task in self._running.items() if task in finished]:
                await self._settle(params, day, self._running.pop(day))
                finished_this_run += 1
            # Mirror progress into PostgreSQL every `parallelism` children: cheap, and fresh enough.
            if finished_this_run - last_report >= params.parallelism:
                last_report = finished_this_run
                await self._report(params)

    async def _start_next(self, params: BackfillInput, dates: list[date], free: int) -> None:
        cursor = self._cursor
        window = dates[cursor.next_index:cursor.next_index + PLAN_LOOKAHEAD]
        plan = await workflow.execute_activity_method(
            OrchestrationActivities.plan_backfill_partitions,
            PlanPartitionsInput(backfill_id=params.backfill_id, org_id=params.org_id,
                                pipeline_id=params.pipeline_id, dates=window, limit=free, force=params.force),
            **short_activity(params.options))
        cursor.next_index += len(plan.partitions)
        for partition in plan.partitions:
            if partition.skip:
                cursor.skipped += 1
            else:
                self._executions[partition.date] = partition.execution_id
                self._running[partition.date] = asyncio.create_task(self._run_child(params, partition))

    async def _run_child(self, params: BackfillInput, partition: PlannedPartition) -> ETLResult:
        etl = ETLInput(execution_id=partition.execution_id, org_id=params.org_id, pipeline_id=params.pipeline_id,
                       start=partition.date, end=partition.date, force=params.force, defer_pacing=True,
                       options=params.options)
        return await workflow.execute_child_workflow(
            ETLWorkflow.run, etl, id=partition.workflow_id, task_queue=params.options.task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            search_attributes=etl_search_attributes(params.org_id, params.pipeline_id, partition.date))

    async def _settle(self, params: BackfillInput, day: date, task: asyncio.Task) -> None:
        cursor = self._cursor
        execution_id = self._executions.pop(day)
        try:
            result: ETLResult = task.result()
        except asyncio.CancelledError:
            cursor.cancelled += 1
            return
        except (ChildWorkflowError, WorkflowAlreadyStartedError) as error:
            if isinstance(error.__cause__, CancelledError):
                cursor.cancelled += 1
                return
            # The child's run died without closing its execution (terminated, timed out): close it.
            await workflow.execute_activity_method(
                LayerActivities.finish_execution,
                FinishInput(execution_id=execution_id, error=failure_message(error)),
                **short_activity(params.options))
            cursor.failed += 1
            cursor.failed_dates.append(day)
            return
        # A recovered partition's Gold outcome was lost with its worker: it may have loaded rows.
        if any(partition.recovered or (partition.gold is not None and not partition.gold.skipped)
               for partition in result.partitions):
            self._pacing_stale = True
        if result.status == "completed":
            cursor.done += 1
        elif result.status == "cancelled":
            cursor.cancelled += 1
        elif result.status == "skipped":  # its execution was already over (cancelled before it began)
            cursor.skipped += 1
        else:
            cursor.failed += 1
            cursor.failed_dates.append(day)

    async def _cancel_children(self, params: BackfillInput) -> None:
        for task in self._running.values():
            task.cancel()
        if self._running:
            # Wait for each child to acknowledge: it marks its own execution cancelled.
            await workflow.wait(list(self._running.values()))
        for day in list(self._running):
            await self._settle(params, day, self._running.pop(day))

    async def _refresh_pacing(self, params: BackfillInput, *, always: bool = False) -> None:
        """Pacing once per run of this workflow, for all the partitions its children loaded (they skip it)."""
        if always or self._pacing_stale:
            await workflow.execute_activity_method(
                LayerActivities.refresh_pacing, PacingInput(org_id=params.org_id, pipeline_id=params.pipeline_id),
                **short_activity(params.options))
            self._pacing_stale = False

    async def _report(self, params: BackfillInput, *, final: bool = False, error: str | None = None) -> None:
        await workflow.execute_activity_method(
            OrchestrationActivities.record_backfill_status,
            BackfillStatusInput(backfill_id=params.backfill_id, status=self._status, progress=self.progress(),
                                error=error, final=final),
            **short_activity(params.options))


