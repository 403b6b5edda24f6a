"""``/healthz`` and the unauthenticated admin API under ``/_sandbox`` that tests and demos script.

- ``GET /_sandbox/info`` — partner id, advertisers (ids, TTD ids, currency, rows per day), today.
- ``PUT /_sandbox/faults`` — body ``FaultProfile``: replace one scope's rules, bad rows, report delay.
- ``GET /_sandbox/faults?token=`` — a scope's profile, with each rule's ``remaining`` count.
- ``DELETE /_sandbox/faults?token=`` — forget a scope; without ``token``, every scope and global fault.
- ``GET /_sandbox/stats?token=`` — per-endpoint request and fault counts (all scopes without token).
- ``POST /_sandbox/tokens`` — ``{"token": "…"}``: accept one more bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from etl_orchestrator.sandbox.faults import FaultProfile
from etl_orchestrator.sandbox.state import StateDep

router = APIRouter(tags=["sandbox admin"])


class TokenBody(BaseModel):
    token: str = Field(min_length=1)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/_sandbox/info")
async def info(state: StateDep) -> dict[str, Any]:
    hierarchy = state.hierarchy
    return {
        "partnerId": hierarchy.partner_id,
        "seed": state.settings.seed,
        "rowsPerDay": state.settings.rows_per_day,
        "today": state.reports.today().isoformat(),
        "restatementDrift": state.settings.restatement_drift,
        "advertisers": [
            {
                "advertiserId": adv.advertiser_id,
                "ttdAdvertiserId": adv.ttd_advertiser_id,
                "displayName": adv.name,
                "currencyCode": adv.currency,
                "timeZone": adv.time_zone,
                "rowsPerDay": adv.row_count,
                "insertionOrders": adv.insertion_order_count,
            }
            for adv in hierarchy.advertisers
        ],
    }


@router.put("/_sandbox/faults")
async def put_faults(profile: FaultProfile, state: StateDep) -> dict[str, Any]:
    state.faults.set_profile(profile)
    return state.faults.profile(profile.token)


@router.get("/_sandbox/faults")
async def get_faults(state: StateDep, token: str | None = None) -> dict[str, Any]:
    return state.faults.profile(token)


@router.delete("/_sandbox/faults")
async def delete_faults(state: StateDep, token: str | None = None) -> dict[str, Any]:
    state.faults.clear(token)
    return {"cleared": token if token is not None else "all"}


@router.get("/_sandbox/stats")
async def stats(state: StateDep, token: str | None = None) -> dict[str, Any]:
    return state.faults.stats(token)


@router.post("/_sandbox/tokens", status_code=201)
async def add_token(body: TokenBody, state: StateDep) -> dict[str, str]:
    state.tokens.add(body.token)
    return {"token": body.token}
