"""DataIngestionWorkflow: fetch one partition's report from its DSP into Bronze.

create query → run → poll (durable timers, exponential backoff 5 s → 5 min) → download → Bronze.
The workflow sleeps between polls, so a report that takes an hour costs no worker slot. ETLWorkflow
starts it with the report ``run_partition`` already requested, when that report was not ready at once.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.contracts import (
        REPORT_READY_STATES,
        BronzeOutcome,
        CheckReportInput,
        IngestInput,
        IngestionInput,
        RequestReportInput,
    )
    from etl_orchestrator.activities.ingestion import IngestionActivities
    from etl_orchestrator.workflows.common import long_activity, next_poll_delay, short_activity


@workflow.defn(name="DataIngestionWorkflow")
class DataIngestionWorkflow:
    def __init__(self) -> None:
        self._state = "starting"
        self._polls = 0

    @workflow.query
    def progress(self) -> dict:
        return {"state": self._state, "polls": self._polls}

    @workflow.run
    async def run(self, params: IngestionInput) -> BronzeOutcome:
        options = params.options
        report = params.report
        if report is None:  # started on its own, or replaying a history from before run_partition
            self._state = "requesting"
            report = await workflow.execute_activity_method(
                IngestionActivities.request_report,
                RequestReportInput(execution_id=params.execution_id, partition=params.partition),
                **short_activity(options))
        delay = options.poll_initial
        deadline = workflow.now() + options.report_timeout
        while report.state not in REPORT_READY_STATES:
            self._state = f"waiting for report ({report.state})"
            if workflow.now() >= deadline:
                raise ApplicationError(f"report not ready after {options.report_timeout}", type="SourceTimeoutError",
                                       non_retryable=True)
            await workflow.sleep(delay)
            delay = next_poll_delay(delay, options.poll_max)
            self._polls += 1
            report = await workflow.execute_activity_method(
                IngestionActivities.check_report,
                CheckReportInput(execution_id=params.execution_id, partition=params.partition, report=report),
                **short_activity(options))
        self._state = "downloading"
        outcome = await workflow.execute_activity_method(
            IngestionActivities.ingest_to_bronze,
            IngestInput(execution_id=params.execution_id, partition=params.partition, report=report),
            **long_activity(options))
        self._state = "done"
        return outcome
