"""Bid Manager API v2 reporting: queries.create/get/list/delete/run, queries.reports.get/list."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request

from etl_orchestrator.sandbox.api_errors import ApiError, parse
from etl_orchestrator.sandbox.dv360_query import (
    QueryBody,
    RunQueryBody,
    StoredQuery,
    layout_for,
    report_resource,
    resolve_range,
    validate_query,
)
from etl_orchestrator.sandbox.paging import PageDep, listing
from etl_orchestrator.sandbox.reports import Report, ReportState, RunRequest
from etl_orchestrator.sandbox.state import SandboxState, StateDep, authenticate, gate, inject, start_report

router = APIRouter(prefix="/v2", tags=["Bid Manager v2"])

DOWNLOAD_BUCKET = "dv360-reports"


async def json_body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip() and optional:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc


def _advertisers_named(raw: Any) -> tuple[str, ...]:
    """Advertiser filters of a not-yet-validated body, so advertiser-scoped faults can match it."""
    try:
        return tuple(
            str(item["value"]) for item in raw["params"]["filters"] if item["type"] == "FILTER_ADVERTISER"
        )
    except (KeyError, TypeError):
        return ()


def _query_or_404(state: SandboxState, query_id: str) -> StoredQuery:
    query = state.queries.get(query_id)
    if query is None:
        raise ApiError(404, f"Query {query_id} was not found.")
    return query


def _report_or_404(state: SandboxState, query_id: str, report_id: str) -> Report:
    report = state.reports.reports.get(report_id)
    if report is None or report.parent_id != query_id or report.source != "dv360":
        raise ApiError(404, f"Report {report_id} of query {query_id} was not found.")
    return report


def download_url(request: Request, state: SandboxState, report: Report, bucket: str, filename: str) -> str:
    """A pre-signed URL on the sandbox itself; it is downloaded without the bearer token."""
    base = str(request.base_url).rstrip("/")
    signed = state.reports.download_query(report.report_id)
    return f"{base}/storage/{bucket}/{report.report_id}/{filename}?{signed}"


async def _resource(request: Request, state: SandboxState, report: Report) -> dict[str, Any]:
    report_state = await state.reports.state(report)
    url = None
    if report_state is ReportState.DONE:
        url = download_url(
            request, state, report, DOWNLOAD_BUCKET, f"report-{report.parent_id}-{report.report_id}.csv"
        )
    return report_resource(report, report_state, url)


@router.post("/queries")
async def create_query(request: Request, state: StateDep) -> dict[str, Any]:
    token = authenticate(request, state)
    raw = await json_body(request)
    await inject(state, request, token=token, endpoint="create_query", advertiser_ids=_advertisers_named(raw))
    body = parse(QueryBody, raw, "query")
    query = validate_query(
        state.reports.new_id(),
        token,
        body,
        partner_id=state.hierarchy.partner_id,
        today=state.reports.today(),
    )
    state.queries[query.query_id] = query
    return query.resource()


@router.get("/queries")
async def list_queries(request: Request, state: StateDep, paging: PageDep) -> dict[str, Any]:
    token, _ = await gate(request, state, "list_queries")
    mine = [query for query in state.queries.values() if query.token == token]
    queries, next_token = paging.page(mine, max_size=100)
    return listing("queries", [query.resource() for query in queries], next_token)


@router.get("/queries/{query_id}")
async def get_query(query_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    query = _query_or_404(state, query_id)
    await gate(request, state, "get_query", query.advertiser_ids)
    return query.resource()


@router.delete("/queries/{query_id}")
async def delete_query(query_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    query = _query_or_404(state, query_id)
    await gate(request, state, "delete_query", query.advertiser_ids)
    del state.queries[query_id]
    return {}


@router.post("/queries/{query_id}:run")
async def run_query(
    query_id: str, request: Request, state: StateDep, synchronous: bool = False
) -> dict[str, Any]:
    query = _query_or_404(state, query_id)
    token, decision = await gate(request, state, "run_query", query.advertiser_ids)
    run = parse(RunQueryBody, await json_body(request, optional=True), "runQueryRequest")
    today = state.reports.today()
    start, end = resolve_range(
        run.data_range or query.body.metadata.data_range, today, field="runQueryRequest.dataRange"
    )
    layout = layout_for(query, start, end, today)
    run = RunRequest("dv360", query_id, token, layout, query.advertiser_ids, start, end)
    report = start_report(state, run, decision)
    if synchronous:
        await asyncio.sleep(report.delay_s)
        return await _resource(request, state, report)
    return report_resource(report, ReportState.QUEUED, None)


@router.get("/queries/{query_id}/reports/{report_id}")
async def get_report(query_id: str, report_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    query = _query_or_404(state, query_id)
    report = _report_or_404(state, query_id, report_id)
    await gate(request, state, "get_report", query.advertiser_ids)
    return await _resource(request, state, report)


@router.get("/queries/{query_id}/reports")
async def list_reports(query_id: str, request: Request, state: StateDep, paging: PageDep) -> dict[str, Any]:
    query = _query_or_404(state, query_id)
    await gate(request, state, "list_reports", query.advertiser_ids)
    runs = [
        report
        for report in state.reports.reports.values()
        if report.parent_id == query_id and report.source == "dv360"
    ]
    reports, next_token = paging.page(runs, max_size=100)
    return listing("reports", [await _resource(request, state, report) for report in reports], next_token)
