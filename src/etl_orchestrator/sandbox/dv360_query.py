"""Bid Manager v2 Query and Report resources: parse and validate request bodies, render responses.

Bodies are camelCase on the wire (aliases) and snake_case in Python. A body the real API would
reject (unknown fields, a format other than CSV, a type other than STANDARD, unknown groupBys or
metrics, a bad date range) is answered 400 INVALID_ARGUMENT with a message naming the field. The
sandbox reports at line-item grain only, so ``FILTER_DATE`` and ``FILTER_LINE_ITEM`` must be among
the groupBys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import Field

from etl_orchestrator.sandbox.api_errors import ApiError, StrictBody
from etl_orchestrator.sandbox.dv360_report import (
    DIMENSIONS,
    HEADER_VARIANTS,
    METRICS,
    REQUIRED_GROUP_BYS,
    Dv360Layout,
    canonical,
)
from etl_orchestrator.sandbox.generator import RESTATEMENT_DAYS
from etl_orchestrator.sandbox.reports import Report, ReportState

RELATIVE_RANGES = {
    "YESTERDAY": (1, 1),
    "PREVIOUS_DAY": (1, 1),
    "LAST_7_DAYS": (7, 1),
    "LAST_14_DAYS": (14, 1),
    "LAST_30_DAYS": (30, 1),
}
MAX_RANGE_DAYS = 366


class GoogleDate(StrictBody):
    year: int
    month: int
    day: int

    def to_date(self) -> date:
        return date(self.year, self.month, self.day)


class DataRange(StrictBody):
    range: str
    custom_start_date: GoogleDate | None = None
    custom_end_date: GoogleDate | None = None


class QueryMetadata(StrictBody):
    title: str = ""
    data_range: DataRange
    format: str = "CSV"
    send_notification: bool = False
    share_email_address: list[str] = Field(default_factory=list)


class Filter(StrictBody):
    type: str
    value: str


class Parameters(StrictBody):
    type: str = "STANDARD"
    group_bys: list[str] = Field(default_factory=list)
    filters: list[Filter] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class QuerySchedule(StrictBody):
    frequency: str = "ONE_TIME"


class QueryBody(StrictBody):
    query_id: str | None = None
    metadata: QueryMetadata
    params: Parameters
    schedule: QuerySchedule = QuerySchedule()


class RunQueryBody(StrictBody):
    data_range: DataRange | None = None


@dataclass
class StoredQuery:
    query_id: str
    token: str
    body: QueryBody
    group_bys: tuple[str, ...]
    metrics: tuple[str, ...]
    advertiser_ids: tuple[str, ...]

    def resource(self) -> dict[str, Any]:
        return {
            "queryId": self.query_id,
            **self.body.model_dump(by_alias=True, exclude={"query_id"}, exclude_none=True),
        }


def validate_query(
    query_id: str, token: str, body: QueryBody, *, partner_id: str, today: date
) -> StoredQuery:
    if body.metadata.format != "CSV":
        raise ApiError(400, "Invalid value at 'query.metadata.format': the sandbox serves CSV reports only")
    if body.params.type != "STANDARD":
        raise ApiError(
            400, f"Invalid value at 'query.params.type': unsupported report type {body.params.type!r}"
        )
    unknown = [name for name in body.params.group_bys if name not in DIMENSIONS]
    unknown += [name for name in body.params.metrics if name not in METRICS]
    if unknown:
        raise ApiError(400, f"Invalid value at 'query.params': unknown groupBys/metrics {', '.join(unknown)}")
    missing = [name for name in REQUIRED_GROUP_BYS if name not in body.params.group_bys]
    if missing or not body.params.metrics:
        raise ApiError(
            400,
            "Invalid value at 'query.params': the sandbox reports at line-item grain: groupBys "
            f"must include {', '.join(REQUIRED_GROUP_BYS)} and metrics must not be empty",
        )
    advertisers: list[str] = []
    for index, report_filter in enumerate(body.params.filters):
        if report_filter.type == "FILTER_ADVERTISER":
            advertisers.append(report_filter.value)
        elif report_filter.type != "FILTER_PARTNER":
            raise ApiError(
                400,
                f"Invalid value at 'query.params.filters[{index}].type': "
                f"unsupported filter {report_filter.type!r}",
            )
        elif report_filter.value != partner_id:
            raise ApiError(
                403, f"The caller does not have permission to access partner {report_filter.value}."
            )
    resolve_range(body.metadata.data_range, today, field="query.metadata.data_range")
    return StoredQuery(
        query_id=query_id,
        token=token,
        body=body,
        group_bys=canonical(body.params.group_bys, DIMENSIONS),
        metrics=canonical(body.params.metrics, METRICS),
        advertiser_ids=tuple(advertisers),
    )


def resolve_range(data_range: DataRange, today: date, *, field: str) -> tuple[date, date]:
    """The report dates of a data range, as of the sandbox's today."""
    if data_range.range == "CUSTOM_DATES":
        if data_range.custom_start_date is None or data_range.custom_end_date is None:
            raise ApiError(
                400, f"Invalid value at '{field}': CUSTOM_DATES needs customStartDate and customEndDate"
            )
        try:
            start, end = data_range.custom_start_date.to_date(), data_range.custom_end_date.to_date()
        except ValueError as exc:
            raise ApiError(400, f"Invalid value at '{field}': {exc}") from exc
    elif data_range.range in RELATIVE_RANGES:
        days_back, last_back = RELATIVE_RANGES[data_range.range]
        start, end = today - timedelta(days=days_back), today - timedelta(days=last_back)
    else:
        raise ApiError(400, f"Invalid value at '{field}.range': unsupported range {data_range.range!r}")
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise ApiError(
            400,
            f"Invalid value at '{field}': the range must run forwards and span at most {MAX_RANGE_DAYS} days",
        )
    return start, end


def fingerprint(query: StoredQuery, start: date, end: date) -> int:
    """What the report is (not who asked, not its title): equal requests get equal files."""
    text = repr((sorted(query.advertiser_ids), start, end, query.group_bys, query.metrics))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def layout_for(query: StoredQuery, start: date, end: date, today: date) -> Dv360Layout:
    """The report's layout; header spelling and report time follow the fingerprint, so they drift
    between queries but a repeated request gets the same bytes."""
    query_fingerprint = fingerprint(query, start, end)
    return Dv360Layout(
        group_bys=query.group_bys,
        metrics=query.metrics,
        header_variant=query_fingerprint % len(HEADER_VARIANTS),
        report_time=datetime.combine(today, time(5, 0)) + timedelta(minutes=query_fingerprint % 300),
        start=start,
        end=end,
        advertiser_filter=query.advertiser_ids,
        restated=(today - end).days < RESTATEMENT_DAYS,
    )


def google_date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def report_resource(report: Report, state: ReportState, download_url: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state.value, "format": "CSV"}
    metadata: dict[str, Any] = {
        "status": status,
        "reportDataStartDate": google_date(report.start),
        "reportDataEndDate": google_date(report.end),
    }
    if state in (ReportState.DONE, ReportState.FAILED):
        status["finishTime"] = _timestamp(report.finish_time)
    if state is ReportState.DONE and download_url:
        metadata["googleCloudStoragePath"] = download_url
    return {"key": {"queryId": report.parent_id, "reportId": report.report_id}, "metadata": metadata}
