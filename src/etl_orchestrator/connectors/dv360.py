"""DV360: reports through Bid Manager API v2, budgets through Display & Video 360 API v4.

A report is one ONE_TIME query per day (CUSTOM_DATES, line-item grain, advertiser filters), run
asynchronously; its ``googleCloudStoragePath`` is a pre-signed URL downloaded without the token.
Config (``source_config`` of a pipeline)::

    {"base_url": "http://127.0.0.1:8090", "token": "…", "advertiser_ids": ["1234567"], "timeout_s": 30}

``advertiser_ids`` omitted means every advertiser the token sees (the connector lists the partners
and their advertisers for budgets). Against Google, ``base_url`` is
``https://doubleclickbidmanager.googleapis.com`` and ``entities_base_url``
``https://displayvideo.googleapis.com``; the sandbox serves both from one base.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from etl_orchestrator.connectors.base import ReportHandle, StepCallback
from etl_orchestrator.connectors.dv360_budgets import parse_insertion_order
from etl_orchestrator.connectors.http import HttpConnectorBase, HttpSource
from etl_orchestrator.domain.budgets import InsertionOrder
from etl_orchestrator.domain.enums import SourceKind
from etl_orchestrator.domain.errors import DataError

DEFAULT_GROUP_BYS = (
    "FILTER_DATE",
    "FILTER_ADVERTISER",
    "FILTER_ADVERTISER_NAME",
    "FILTER_ADVERTISER_CURRENCY",
    "FILTER_MEDIA_PLAN",
    "FILTER_MEDIA_PLAN_NAME",
    "FILTER_INSERTION_ORDER",
    "FILTER_INSERTION_ORDER_NAME",
    "FILTER_LINE_ITEM",
    "FILTER_LINE_ITEM_NAME",
)
DEFAULT_METRICS = (
    "METRIC_IMPRESSIONS",
    "METRIC_BILLABLE_IMPRESSIONS",
    "METRIC_CLICKS",
    "METRIC_CTR",
    "METRIC_TOTAL_CONVERSIONS",
    "METRIC_LAST_CLICKS",
    "METRIC_LAST_IMPRESSIONS",
    "METRIC_MEDIA_COST_ADVERTISER",
    "METRIC_TOTAL_MEDIA_COST_ADVERTISER",
    "METRIC_REVENUE_ADVERTISER",
)
_PAGE_SIZE = 200  # the v4 API's maximum
_STATES = {"QUEUED", "RUNNING", "DONE", "FAILED"}


class Dv360Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="Bid Manager API root (reporting), e.g. the sandbox's URL.")
    entities_base_url: str | None = Field(
        None, description="DV360 API root (advertisers, budgets); default base_url."
    )
    token: str = Field(min_length=1, description="OAuth bearer token.")
    advertiser_ids: list[str] | None = Field(None, description="Advertisers to report on; None: all visible.")
    partner_id: str | None = Field(
        None, description="Partner to list advertisers of; None: every visible partner."
    )
    timeout_s: float = Field(30.0, gt=0, description="Timeout of each request (and of each download read).")
    group_bys: tuple[str, ...] = Field(DEFAULT_GROUP_BYS, description="Report dimensions (API names).")
    metrics: tuple[str, ...] = Field(DEFAULT_METRICS, description="Report metrics (API names).")
    chunk_bytes: int = Field(
        1024 * 1024, ge=4096, description="Download chunk size (one progress call each)."
    )


def _google_date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


class Dv360Connector(HttpConnectorBase):
    kind = SourceKind.DV360

    def __init__(self, config: Dv360Config) -> None:
        self.config = config
        self._http = HttpSource(
            source="dv360",
            base_url=config.base_url,
            timeout_s=config.timeout_s,
            headers={"Authorization": f"Bearer {config.token}"},
            chunk_bytes=config.chunk_bytes,
        )
        self._entities = (config.entities_base_url or config.base_url).rstrip("/")

    # -- reports ------------------------------------------------------------------------------------

    async def check_credentials(self) -> None:
        await self._http.call("GET", "/v2/queries", params={"pageSize": 1}, operation="list_queries")
        for advertiser_id in self.config.advertiser_ids or []:
            await self._advertiser(advertiser_id)
        if not self.config.advertiser_ids:
            await self._partner_ids()

    def query_body(self, report_date: date) -> dict[str, Any]:
        data_range = {
            "range": "CUSTOM_DATES",
            "customStartDate": _google_date(report_date),
            "customEndDate": _google_date(report_date),
        }
        filters = [
            {"type": "FILTER_ADVERTISER", "value": advertiser_id}
            for advertiser_id in self.config.advertiser_ids or []
        ]
        if not filters and self.config.partner_id:
            filters = [{"type": "FILTER_PARTNER", "value": self.config.partner_id}]
        return {
            "metadata": {
                "title": f"etl-orchestrator dv360 {report_date.isoformat()}",
                "format": "CSV",
                "dataRange": data_range,
            },
            "params": {
                "type": "STANDARD",
                "groupBys": list(self.config.group_bys),
                "filters": filters,
                "metrics": list(self.config.metrics),
            },
            "schedule": {"frequency": "ONE_TIME"},
        }

    async def request_report(self, report_date: date, *, resume: dict[str, Any] | None = None,
                             on_step: StepCallback | None = None) -> ReportHandle:
        resume = resume or {}
        body = self.query_body(report_date)
        query_id = resume.get("query_id")
        if not query_id:
            query = await self._http.call("POST", "/v2/queries", json=body, operation="create_query")
            query_id = query.get("queryId")
            if not query_id:
                raise DataError("DV360 queries.create answered without a queryId", source="dv360")
            if on_step:
                on_step({"query_id": query_id})
        if resume.get("report_id"):
            pending = ReportHandle(source=self.kind, report_date=report_date, query_id=query_id,
                                   report_id=resume["report_id"], state="QUEUED")
            return await self.report_status(pending)
        report = await self._http.call(
            "POST",
            f"/v2/queries/{query_id}:run",
            params={"synchronous": "false"},
            json={"dataRange": body["metadata"]["dataRange"]},
            operation="run_query",
        )
        handle = self._handle(report, report_date)
        if on_step:
            on_step({"query_id": query_id, "report_id": handle.report_id})
        return handle if handle.done else await self.report_status(handle)

    async def report_status(self, handle: ReportHandle) -> ReportHandle:
        report = await self._http.call(
            "GET", f"/v2/queries/{handle.query_id}/reports/{handle.report_id}", operation="get_report"
        )
        return self._handle(report, handle.report_date)

    def _handle(self, report: dict[str, Any], report_date: date | None) -> ReportHandle:
        """A handle from a Report resource; FAILED or malformed reports raise DataError."""
        key = report.get("key") or {}
        metadata = report.get("metadata") or {}
        state = (metadata.get("status") or {}).get("state")
        url = metadata.get("googleCloudStoragePath")
        ids = {"query_id": key.get("queryId"), "report_id": key.get("reportId")}
        if state not in _STATES or not ids["query_id"] or not ids["report_id"]:
            raise DataError(f"DV360 answered a malformed report (state {state!r})", source="dv360", **ids)
        if state == "FAILED":
            raise DataError(
                f"DV360 report {ids['report_id']} of query {ids['query_id']} FAILED",
                source="dv360",
                report_date=report_date,
            )
        if state == "DONE" and not url:
            raise DataError("DV360 report is DONE without a googleCloudStoragePath", source="dv360", **ids)
        return ReportHandle(
            source=self.kind,
            report_date=report_date,
            state=state,
            download_url=url,
            extra={"advertiser_ids": list(self.config.advertiser_ids or [])},
            **ids,
        )

    async def _advertiser(self, advertiser_id: str) -> dict[str, Any]:
        return await self._http.call(
            "GET", f"{self._entities}/v4/advertisers/{advertiser_id}", operation="advertiser"
        )

    async def _pages(self, url: str, key: str, *, operation: str, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            query = {
                "pageSize": str(_PAGE_SIZE),
                **params,
                **({"pageToken": page_token} if page_token else {}),
            }
            body = await self._http.call("GET", url, params=query, operation=operation)
            items += body.get(key, [])
            page_token = body.get("nextPageToken")
            if not page_token:
                return items

    async def _partner_ids(self) -> list[str]:
        if self.config.partner_id:
            return [self.config.partner_id]
        partners = await self._pages(f"{self._entities}/v4/partners", "partners", operation="list_partners")
        return [str(partner["partnerId"]) for partner in partners if partner.get("partnerId")]

    async def _advertiser_ids(self) -> list[str]:
        if self.config.advertiser_ids:
            return list(self.config.advertiser_ids)
        advertisers = []
        for partner_id in await self._partner_ids():
            advertisers += await self._pages(
                f"{self._entities}/v4/advertisers",
                "advertisers",
                operation="list_advertisers",
                partnerId=partner_id,
            )
        return [
            str(advertiser["advertiserId"]) for advertiser in advertisers if advertiser.get("advertiserId")
        ]

    async def budget_advertisers(self) -> list[str]:
        return await self._advertiser_ids()

    async def advertiser_insertion_orders(self, advertiser_id: str) -> list[InsertionOrder]:
        currency = ((await self._advertiser(advertiser_id)).get("generalConfig") or {}).get("currencyCode")
        resources = await self._pages(
            f"{self._entities}/v4/advertisers/{advertiser_id}/insertionOrders",
            "insertionOrders",
            operation="insertion_orders",
        )
        return [parse_insertion_order(resource, currency=currency) for resource in resources]
