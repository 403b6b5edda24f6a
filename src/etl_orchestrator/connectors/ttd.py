"""The Trade Desk: MyReports through a one-time report schedule and its execution.

``request_report`` creates a "Once" schedule for one day (it executes at once) and reads its
execution; ``report_status`` queries the execution again; the ``DownloadURL`` of its delivery is
downloaded without credentials. Config::

    {"base_url": "http://127.0.0.1:8090/ttd", "token": "…", "advertiser_ids": ["abc1234"],
     "date_format": "Sortable", "numeric_format": "US", "timeout_s": 30}

Against TTD, ``base_url`` is ``https://api.thetradedesk.com``; the sandbox serves the same paths
under ``/ttd``. TTD budgets are not read (``insertion_orders`` is empty).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from etl_orchestrator.connectors.base import ReportHandle, StepCallback
from etl_orchestrator.connectors.http import HttpConnectorBase, HttpSource
from etl_orchestrator.domain.enums import SourceKind
from etl_orchestrator.domain.errors import DataError

EXECUTION_STATES = {
    "Pending": "QUEUED",
    "Running": "RUNNING",
    "InProgress": "RUNNING",
    "Complete": "DONE",
    "Completed": "DONE",
    "Failed": "FAILED",
    "Cancelled": "FAILED",
}
_REPORTS = "/v3/myreports"


class TtdConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        description="API root: https://api.thetradedesk.com, or the sandbox's URL + '/ttd'."
    )
    token: str = Field(min_length=1, description="TTD-Auth token.")
    advertiser_ids: list[str] = Field(default_factory=list, description="TTD advertiser ids; empty: all.")
    date_format: Literal["Sortable", "International", "US"] = Field(
        "Sortable", description="Report date format."
    )
    numeric_format: Literal["US", "International"] = Field("US", description="Report number format.")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of each request (and of each download read).")
    chunk_bytes: int = Field(1024 * 1024, ge=4096, description="Download chunk size.")


class TtdConnector(HttpConnectorBase):
    kind = SourceKind.TTD

    def __init__(self, config: TtdConfig) -> None:
        self.config = config
        self._http = HttpSource(
            source="ttd",
            base_url=config.base_url,
            timeout_s=config.timeout_s,
            headers={"TTD-Auth": config.token},
            chunk_bytes=config.chunk_bytes,
        )

    async def check_credentials(self) -> None:
        await self._executions([], page_size=1)

    async def request_report(self, report_date: date, *, resume: dict[str, Any] | None = None,
                             on_step: StepCallback | None = None) -> ReportHandle:
        if resume and resume.get("query_id"):
            pending = ReportHandle(source=self.kind, report_date=report_date, query_id=resume["query_id"],
                                   state="QUEUED")
            return await self.report_status(pending)
        schedule = await self._http.call(
            "POST",
            f"{_REPORTS}/reportschedule",
            operation="create_schedule",
            json={
                "ReportScheduleName": f"etl-orchestrator ttd {report_date.isoformat()}",
                "ReportScheduleType": "Once",
                "ReportFileFormat": "CSV",
                "ReportDateRange": "Custom",
                "ReportStartDateInclusive": f"{report_date.isoformat()}T00:00:00",
                "ReportEndDateExclusive": f"{(report_date + timedelta(days=1)).isoformat()}T00:00:00",
                "AdvertiserFilters": self.config.advertiser_ids,
                "ReportDateFormat": self.config.date_format,
                "ReportNumericFormat": self.config.numeric_format,
                "TimeZone": "UTC",
            },
        )
        schedule_id = schedule.get("ReportScheduleId")
        if schedule_id is None:
            raise DataError("TTD answered a report schedule without ReportScheduleId", source="ttd")
        if on_step:
            on_step({"query_id": str(schedule_id)})
        pending = ReportHandle(
            source=self.kind, report_date=report_date, query_id=str(schedule_id), state="QUEUED"
        )
        return await self.report_status(pending)

    async def _executions(self, schedule_ids: list[int], *, page_size: int) -> list[dict[str, Any]]:
        body = await self._http.call(
            "POST",
            f"{_REPORTS}/reportexecution/query/advertisers",
            operation="query_executions",
            json={
                "ReportScheduleIds": schedule_ids,
                "AdvertiserIds": self.config.advertiser_ids,
                "PageStartIndex": 0,
                "PageSize": page_size,
            },
        )
        result = body.get("Result")
        if not isinstance(result, list):
            raise DataError("TTD answered a report execution query without a Result list", source="ttd")
        return result

    async def report_status(self, handle: ReportHandle) -> ReportHandle:
        executions = await self._executions([int(handle.query_id or 0)], page_size=1)
        if not executions:  # the schedule has not produced its execution yet
            return handle.model_copy(update={"state": "QUEUED"})
        execution = executions[0]
        state = EXECUTION_STATES.get(str(execution.get("ReportExecutionState")))
        if state is None:
            raise DataError(
                f"TTD answered an unknown execution state {execution.get('ReportExecutionState')!r}",
                source="ttd",
            )
        if state == "FAILED":
            raise DataError(
                f"TTD report execution {execution.get('ReportExecutionId')} of schedule "
                f"{handle.query_id} failed",
                source="ttd",
                report_date=handle.report_date,
            )
        deliveries = execution.get("ReportDeliveries") or []
        url = deliveries[0].get("DownloadURL") if deliveries else None
        if state == "DONE" and not url:
            raise DataError("TTD report execution is Complete without a DownloadURL", source="ttd")
        return handle.model_copy(
            update={"state": state, "download_url": url, "report_id": str(execution.get("ReportExecutionId"))}
        )
