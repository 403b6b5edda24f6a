"""DV360 API v4 entities: partners.list, advertisers.list/get, advertisers.insertionOrders.list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from etl_orchestrator.sandbox.api_errors import ApiError
from etl_orchestrator.sandbox.budgets import advertiser_resource, insertion_orders
from etl_orchestrator.sandbox.hierarchy import Advertiser
from etl_orchestrator.sandbox.paging import PageDep, listing
from etl_orchestrator.sandbox.state import SandboxState, StateDep, gate

router = APIRouter(prefix="/v4", tags=["Display & Video 360 v4"])


def _advertiser_or_404(state: SandboxState, advertiser_id: str) -> Advertiser:
    advertiser = state.hierarchy.advertiser(advertiser_id)
    if advertiser is None or advertiser.advertiser_id != advertiser_id:
        raise ApiError(404, f"Advertiser {advertiser_id} was not found.")
    return advertiser


@router.get("/partners")
async def list_partners(request: Request, state: StateDep, paging: PageDep) -> dict[str, Any]:
    await gate(request, state, "list_partners")
    partner = {
        "name": f"partners/{state.hierarchy.partner_id}",
        "partnerId": state.hierarchy.partner_id,
        "displayName": "DSP Sandbox Agency",
        "entityStatus": "ENTITY_STATUS_ACTIVE",
        "generalConfig": {"timeZone": "America/New_York", "currencyCode": "USD"},
    }
    return listing("partners", *paging.page([partner], max_size=200))


@router.get("/advertisers")
async def list_advertisers(
    request: Request,
    state: StateDep,
    paging: PageDep,
    partner_id: Annotated[str | None, Query(alias="partnerId")] = None,
) -> dict[str, Any]:
    await gate(request, state, "list_advertisers")
    if not partner_id:
        raise ApiError(400, "Invalid value at 'partner_id': a partnerId is required")
    if partner_id != state.hierarchy.partner_id:
        raise ApiError(403, f"The caller does not have permission to access partner {partner_id}.")
    advertisers, next_token = paging.page(state.hierarchy.advertisers, max_size=200)
    return listing(
        "advertisers", [advertiser_resource(state.hierarchy, adv) for adv in advertisers], next_token
    )


@router.get("/advertisers/{advertiser_id}")
async def get_advertiser(advertiser_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    await gate(request, state, "advertiser", (advertiser_id,))
    return advertiser_resource(state.hierarchy, _advertiser_or_404(state, advertiser_id))


@router.get("/advertisers/{advertiser_id}/insertionOrders")
async def list_insertion_orders(
    advertiser_id: str, request: Request, state: StateDep, paging: PageDep
) -> dict[str, Any]:
    await gate(request, state, "insertion_orders", (advertiser_id,))
    advertiser = _advertiser_or_404(state, advertiser_id)
    today = state.reports.today()
    cache_key = (advertiser_id, today)
    if cache_key not in state.insertion_orders:  # pages of one listing must agree, and budgets take a moment
        state.insertion_orders[cache_key] = insertion_orders(state.hierarchy, advertiser, today=today)
    return listing("insertionOrders", *paging.page(state.insertion_orders[cache_key], max_size=200))
