"""The Trade Desk MyReports, the sandbox's way: schedule a one-time report, poll its execution.

- ``POST /ttd/v3/myreports/reportschedule`` with ``ReportScheduleName``, ``ReportScheduleType: "Once"``,
  ``ReportFileFormat: "CSV"``, ``ReportDateRange: "Custom"``, ``ReportStartDateInclusive`` and
  ``ReportEndDateExclusive`` (ISO dates or datetimes), ``AdvertiserFilters`` (TTD advertiser ids) and
  optionally ``ReportDateFormat`` (Sortable | International | US) and ``ReportNumericFormat``
  (US | International) → the schedule with ``ReportScheduleId``; a "Once" schedule executes at once.
- ``POST /ttd/v3/myreports/reportexecution/query/advertisers`` with ``ReportScheduleIds``,
  ``PageStartIndex``, ``PageSize`` → ``{Result: [{ReportExecutionId, ReportExecutionState
  (Pending | Running | Complete | Failed), ReportDeliveries: [{DownloadURL}]}], ResultCount,
  TotalFilteredCount}``.

Authentication is the ``TTD-Auth`` header (a bearer token works too); ids are integers in JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from etl_orchestrator.sandbox.api_errors import ApiError, TtdBody, parse
from etl_orchestrator.sandbox.reports import Report, ReportState, RunRequest
from etl_orchestrator.sandbox.routes.dv360_reporting import download_url, json_body
from etl_orchestrator.sandbox.state import SandboxState, StateDep, authenticate, inject, start_report
from etl_orchestrator.sandbox.ttd_report import DATE_FORMATS, NUMERIC_FORMATS, TtdLayout

router = APIRouter(prefix="/ttd/v3/myreports", tags=["The Trade Desk MyReports"])

DOWNLOAD_BUCKET = "ttd-myreports"
EXECUTION_STATES = {
    ReportState.QUEUED: "Pending",
    ReportState.RUNNING: "Running",
    ReportState.DONE: "Complete",
    ReportState.FAILED: "Failed",
}


class ScheduleBody(TtdBody):
    report_schedule_name: str = Field(min_length=1)
    report_schedule_type: str = "Once"
    report_file_format: str = "CSV"
    report_date_range: str = "Custom"
    report_start_date_inclusive: str
    report_end_date_exclusive: str
    advertiser_filters: list[str] = Field(default_factory=list)
    report_date_format: str = "Sortable"
    report_numeric_format: str = "US"
    report_template_id: int | None = None
    time_zone: str = "UTC"


class ExecutionQueryBody(TtdBody):
    report_schedule_ids: list[int] = Field(default_factory=list)
    advertiser_ids: list[str] = Field(default_factory=list)
    page_start_index: int = Field(0, ge=0)
    page_size: int = Field(100, ge=1, le=1000)


@dataclass
class Schedule:
    schedule_id: str
    body: ScheduleBody
    execution_id: str

    def resource(self) -> dict[str, Any]:
        return {
            "ReportScheduleId": int(self.schedule_id),
            "ReportScheduleStatus": "Active",
            **self.body.model_dump(by_alias=True, exclude_none=True),
        }


def _day(text: str, field: str) -> date:
    try:
        return (
            datetime.fromisoformat(text.replace("Z", "+00:00")).date()
            if "T" in text
            else date.fromisoformat(text)
        )
    except ValueError as exc:
        raise ApiError(400, f"{field} is not an ISO 8601 date: {text!r}") from exc


def _validate(body: ScheduleBody) -> tuple[date, date]:
    if (
        body.report_schedule_type != "Once"
        or body.report_file_format != "CSV"
        or body.report_date_range != "Custom"
    ):
        raise ApiError(400, "The sandbox runs Once schedules of Custom date ranges as CSV only.")
    if body.report_date_format not in DATE_FORMATS or body.report_numeric_format not in NUMERIC_FORMATS:
        raise ApiError(
            400,
            f"ReportDateFormat must be one of {sorted(DATE_FORMATS)} and ReportNumericFormat "
            f"one of {list(NUMERIC_FORMATS)}.",
        )
    start = _day(body.report_start_date_inclusive, "ReportStartDateInclusive")
    end = _day(body.report_end_date_exclusive, "ReportEndDateExclusive") - timedelta(days=1)
    if end < start or (end - start).days > 365:
        raise ApiError(
            400, "ReportEndDateExclusive must be after ReportStartDateInclusive, at most 366 days later."
        )
    return start, end


async def _execution(
    request: Request, state: SandboxState, schedule: Schedule, report: Report
) -> dict[str, Any]:
    report_state = await state.reports.state(report)
    execution: dict[str, Any] = {
        "ReportExecutionId": int(report.report_id),
        "ReportScheduleId": int(schedule.schedule_id),
        "ReportScheduleName": schedule.body.report_schedule_name,
        "ReportExecutionState": EXECUTION_STATES[report_state],
        "ReportStartDateInclusive": f"{report.start.isoformat()}T00:00:00",
        "ReportEndDateExclusive": f"{(report.end + timedelta(days=1)).isoformat()}T00:00:00",
        "ReportDeliveries": [],
    }
    if report_state is ReportState.DONE:
        filename = f"{schedule.body.report_schedule_name.replace(' ', '_')}_{report.report_id}.csv"
        execution["ReportDeliveries"] = [
            {
                "ReportDestination": "Download",
                "DeliveredPath": filename,
                "DownloadURL": download_url(request, state, report, DOWNLOAD_BUCKET, filename),
                "DeliveredUTC": report.finish_time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        ]
    return execution


@router.post("/reportschedule")
async def create_schedule(request: Request, state: StateDep) -> dict[str, Any]:
    token = authenticate(request, state)
    raw = await json_body(request)
    advertisers = tuple(raw.get("AdvertiserFilters") or ()) if isinstance(raw, dict) else ()
    decision = await inject(
        state, request, token=token, endpoint="ttd_create_schedule", advertiser_ids=advertisers
    )
    body = parse(ScheduleBody, raw, "ReportSchedule")
    start, end = _validate(body)
    layout = TtdLayout(date_format=body.report_date_format, numeric_format=body.report_numeric_format)
    schedule_id = state.reports.new_id()
    run = RunRequest("ttd", schedule_id, token, layout, tuple(body.advertiser_filters), start, end)
    report = start_report(state, run, decision)
    schedule = Schedule(schedule_id=schedule_id, body=body, execution_id=report.report_id)
    state.schedules[schedule_id] = schedule
    return schedule.resource()


@router.post("/reportexecution/query/advertisers")
async def query_executions(request: Request, state: StateDep) -> dict[str, Any]:
    token = authenticate(request, state)
    raw = await json_body(request)
    advertisers = tuple(raw.get("AdvertiserIds") or ()) if isinstance(raw, dict) else ()
    await inject(state, request, token=token, endpoint="ttd_query_executions", advertiser_ids=advertisers)
    query = parse(ExecutionQueryBody, raw, "ReportExecutionQuery")
    wanted = {str(schedule_id) for schedule_id in query.report_schedule_ids}
    schedules = [
        schedule for schedule_id, schedule in state.schedules.items() if not wanted or schedule_id in wanted
    ]
    selected = schedules[query.page_start_index : query.page_start_index + query.page_size]
    result = [
        await _execution(request, state, schedule, state.reports.reports[schedule.execution_id])
        for schedule in selected
    ]
    return {"Result": result, "ResultCount": len(result), "TotalFilteredCount": len(schedules)}
