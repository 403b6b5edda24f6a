"""DV360 v4 advertisers and insertion orders: shapes, paging, budgets that make pacing varied."""

from __future__ import annotations

from typing import Any

import httpx


async def all_insertion_orders(
    api: httpx.AsyncClient, advertiser_id: str, page_size: int
) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    params: dict[str, Any] = {"pageSize": page_size}
    while True:
        body = (await api.get(f"/v4/advertisers/{advertiser_id}/insertionOrders", params=params)).json()
        orders += body["insertionOrders"]
        if "nextPageToken" not in body:
            return orders
        params["pageToken"] = body["nextPageToken"]


async def test_advertiser_carries_its_currency(api: httpx.AsyncClient, partner: dict[str, Any]) -> None:
    expected = partner["advertisers"][3]
    advertiser = (await api.get(f"/v4/advertisers/{expected['advertiserId']}")).json()
    assert advertiser["generalConfig"]["currencyCode"] == expected["currencyCode"]
    assert advertiser["name"] == f"advertisers/{expected['advertiserId']}"
    assert len({adv["currencyCode"] for adv in partner["advertisers"]}) >= 5


async def test_insertion_orders_page_and_keep_their_shape(
    api: httpx.AsyncClient, partner: dict[str, Any]
) -> None:
    advertiser = max(partner["advertisers"], key=lambda adv: adv["insertionOrders"])
    paged = await all_insertion_orders(api, advertiser["advertiserId"], page_size=3)
    whole = await all_insertion_orders(api, advertiser["advertiserId"], page_size=200)
    assert paged == whole and len(whole) == advertiser["insertionOrders"]
    order = whole[0]
    assert set(order) >= {
        "name",
        "advertiserId",
        "insertionOrderId",
        "displayName",
        "entityStatus",
        "pacing",
        "budget",
    }
    segment = order["budget"]["budgetSegments"][0]
    assert segment["budgetAmountMicros"].isdigit() and set(segment["dateRange"]) == {"startDate", "endDate"}


async def test_page_size_above_the_maximum_is_400(api: httpx.AsyncClient, partner: dict[str, Any]) -> None:
    advertiser_id = partner["advertisers"][0]["advertiserId"]
    response = await api.get(f"/v4/advertisers/{advertiser_id}/insertionOrders", params={"pageSize": 201})
    assert response.status_code == 400


async def test_unknown_advertiser_is_404_and_partner_listing_needs_the_partner(
    api: httpx.AsyncClient, partner: dict[str, Any]
) -> None:
    assert (await api.get("/v4/advertisers/42")).status_code == 404
    assert (await api.get("/v4/advertisers")).status_code == 400
    assert (await api.get("/v4/advertisers", params={"partnerId": "1"})).status_code == 403
    listed = (await api.get("/v4/advertisers", params={"partnerId": partner["partnerId"]})).json()[
        "advertisers"
    ]
    assert [adv["advertiserId"] for adv in listed] == [adv["advertiserId"] for adv in partner["advertisers"]]
