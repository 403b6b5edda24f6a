"""The sandbox's in-memory state, bearer authentication and the per-request fault gate.

Every API handler starts with ``await gate(request, state, endpoint, advertiser_ids)``: it
authenticates (401 with Google's body otherwise), counts the request for ``/_sandbox/stats``, and
injects the scripted fault, if any — sleeping for a slow response, raising the error status, or
returning the decision so the handler can truncate a download or fail a report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Request

from etl_orchestrator.sandbox.api_errors import ApiError, MalformedResponseError
from etl_orchestrator.sandbox.dv360_query import StoredQuery
from etl_orchestrator.sandbox.faults import FAULT_HEADER, FaultBook, FaultDecision
from etl_orchestrator.sandbox.hierarchy import Hierarchy
from etl_orchestrator.sandbox.reports import Report, ReportStore, RunRequest
from etl_orchestrator.sandbox.settings import SandboxSettings

TTD_AUTH_HEADER = "TTD-Auth"


@dataclass
class SandboxState:
    settings: SandboxSettings
    hierarchy: Hierarchy
    faults: FaultBook
    reports: ReportStore
    tokens: set[str] = field(default_factory=set)
    queries: dict[str, StoredQuery] = field(default_factory=dict)  # DV360 queries by queryId
    schedules: dict[str, Any] = field(default_factory=dict)  # TTD schedules by id (routes/ttd.py Schedule)
    insertion_orders: dict[tuple[str, date], list[dict[str, Any]]] = field(default_factory=dict)

    def accepts(self, token: str) -> bool:
        settings = self.settings
        if token == settings.token or token in self.tokens or token in settings.extra_tokens:
            return True
        return settings.accept_sub_tokens and token.startswith(settings.token + ".")


def bearer_token(request: Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get(TTD_AUTH_HEADER) or None


def get_state(request: Request) -> SandboxState:
    return request.app.state.sandbox


StateDep = Annotated[SandboxState, Depends(get_state)]


def authenticate(request: Request, state: SandboxState) -> str:
    token = bearer_token(request)
    if token is None or not state.accepts(token):
        raise ApiError(401)
    return token


async def inject(
    state: SandboxState, request: Request, *, token: str, endpoint: str, advertiser_ids: tuple[str, ...] = ()
) -> FaultDecision | None:
    """Count the request in ``token``'s scope and apply its scripted fault, if any."""
    try:
        decision = state.faults.decide(
            token=token,
            endpoint=endpoint,
            advertiser_ids=advertiser_ids,
            header=request.headers.get(FAULT_HEADER),
        )
    except ValueError as exc:
        raise ApiError(400, f"Invalid {FAULT_HEADER}: {exc}") from exc
    if decision is None:
        return None
    if decision.delay_s:
        await asyncio.sleep(decision.delay_s)
    if decision.status is not None:
        raise ApiError(
            decision.status, retry_after_s=decision.retry_after_s if decision.status == 429 else None
        )
    if decision.malformed_json:
        raise MalformedResponseError()
    return decision


def start_report(state: SandboxState, run: RunRequest, decision: FaultDecision | None) -> Report:
    """Run a report with the bad rows, delay and failure its scope scripted."""
    delay = state.faults.report_delay_s(run.token)
    return state.reports.start(
        run,
        bad_rows=state.faults.bad_rows(run.token),
        delay_s=state.settings.report_delay_s if delay is None else delay,
        fail=decision is not None and decision.fail_report,
    )


async def gate(
    request: Request, state: SandboxState, endpoint: str, advertiser_ids: tuple[str, ...] = ()
) -> tuple[str, FaultDecision | None]:
    """Authenticate, then ``inject``. Returns the token (the fault scope) and the decision."""
    token = authenticate(request, state)
    return token, await inject(state, request, token=token, endpoint=endpoint, advertiser_ids=advertiser_ids)
