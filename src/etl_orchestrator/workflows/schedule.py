"""ScheduledPipelineWorkflow: what a pipeline's Temporal Schedule starts on every fire.

It reads the fire's nominal time (``TemporalScheduledStartTime``, set by the schedule; the start
time when started by hand), records the execution of the logical date's range in PostgreSQL and
runs it as a child ``ETLWorkflow``. Living as long as that child is what makes the schedule's
overlap policy (SKIP) mean "a fire while the last run is still going is skipped".
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.contracts import FinishInput
    from etl_orchestrator.activities.layers import LayerActivities
    from etl_orchestrator.activities.orchestration import OrchestrationActivities
    from etl_orchestrator.activities.orchestration_contracts import (
        PrepareScheduledRunInput,
        ScheduledRunInput,
        ScheduledRunResult,
        etl_search_attributes,
    )
    from etl_orchestrator.workflows.common import failure_message, short_activity
    from etl_orchestrator.workflows.etl import ETLWorkflow

SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn(name="ScheduledPipelineWorkflow")
class ScheduledPipelineWorkflow:
    def __init__(self) -> None:
        self._state = "starting"
        self._logical_date: str | None = None
        self._execution_id: str | None = None

    @workflow.query
    def progress(self) -> dict:
        return {"state": self._state, "logical_date": self._logical_date, "execution_id": self._execution_id}

    @workflow.run
    async def run(self, params: ScheduledRunInput) -> ScheduledRunResult:
        info = workflow.info()
        scheduled_at = info.typed_search_attributes.get(SCHEDULED_START_TIME) or info.start_time
        prepared = await workflow.execute_activity_method(
            OrchestrationActivities.prepare_scheduled_run,
            PrepareScheduledRunInput(pipeline_id=params.pipeline_id, schedule_id=params.schedule_id,
                                     scheduled_at=scheduled_at, run_workflow_id=info.workflow_id),
            **short_activity(params.options))
        self._logical_date = prepared.logical_date.isoformat()
        self._execution_id = str(prepared.execution_id) if prepared.execution_id else None
        if prepared.params is None:
            self._state = "skipped"
            return ScheduledRunResult(logical_date=prepared.logical_date, execution_id=prepared.execution_id,
                                      status="skipped", reason=prepared.reason)
        etl = prepared.params
        self._state = "running"
        try:
            result = await workflow.execute_child_workflow(
                ETLWorkflow.run, etl, id=prepared.workflow_id, task_queue=etl.options.task_queue,
                # Cancelling or terminating the scheduled run cancels the ETL run, which records it.
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=etl_search_attributes(etl.org_id, etl.pipeline_id, etl.start))
        except (ChildWorkflowError, WorkflowAlreadyStartedError) as error:
            message = failure_message(error)
            # The execution was recorded but its run died (or never started): close it as failed.
            await workflow.execute_activity_method(
                LayerActivities.finish_execution, FinishInput(execution_id=etl.execution_id, error=message),
                **short_activity(params.options))
            self._state = "failed"
            return ScheduledRunResult(logical_date=prepared.logical_date, execution_id=etl.execution_id,
                                      status="failed", reason=message)
        self._state = result.status
        return ScheduledRunResult(logical_date=prepared.logical_date, execution_id=etl.execution_id,
                                  status=result.status, etl=result)
