"""DV360 API v4 advertisers and insertion orders, with budgets consistent with the synthetic spend.

Each insertion order's budget is its expected media cost per day (from its line items' volume and
CPM, the same parameters ``generator.py`` draws around) times its flight days, divided by a target
pacing: 0.7 → spends 70 % of plan (``under``), 1.0 → ``on_track``, 1.3 → ``over``. Flights sit
around the sandbox's today: most are running, some start later, some have ended, some run in two
segments. A few budgets are in impressions (``budgetAmountMicros`` then holds the impression
count itself, not micros), some pace AHEAD or ASAP, some daily with a ``dailyMaxMicros``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from etl_orchestrator.sandbox.dv360_query import google_date
from etl_orchestrator.sandbox.faults import seeded_unit
from etl_orchestrator.sandbox.hierarchy import Advertiser, Hierarchy

_TARGET_PACING = (0.7, 0.8, 1.0, 1.0, 1.05, 1.3, 1.45)


@dataclass(frozen=True)
class _Plan:
    """What one insertion order is expected to deliver per day."""

    insertion_order_index: int
    insertion_order_id: str
    campaign_id: str
    display_name: str
    daily_impressions: float
    daily_media_cost_micros: float


def advertiser_resource(hierarchy: Hierarchy, advertiser: Advertiser) -> dict[str, object]:
    slug = advertiser.name.split(" ")[0].lower()
    return {
        "name": f"advertisers/{advertiser.advertiser_id}",
        "advertiserId": advertiser.advertiser_id,
        "partnerId": hierarchy.partner_id,
        "displayName": advertiser.name,
        "entityStatus": "ENTITY_STATUS_ACTIVE",
        "generalConfig": {
            "domainUrl": f"https://www.{slug}.example",
            "timeZone": advertiser.time_zone,
            "currencyCode": advertiser.currency,
        },
    }


def _plans(hierarchy: Hierarchy, advertiser: Advertiser) -> list[_Plan]:
    rows = hierarchy.line_items.slice(advertiser.first_row, advertiser.row_count)
    grouped = rows.group_by("insertion_order_index", maintain_order=True).agg(
        pl.col("insertion_order_id").first(),
        pl.col("campaign_id").first(),
        pl.col("insertion_order_name").first(),
        pl.col("base_impressions").sum().alias("daily_impressions"),
        (pl.col("base_impressions") * pl.col("cpm_micros") / 1000).sum().alias("daily_media_cost_micros"),
    )
    return [
        _Plan(
            insertion_order_index=record["insertion_order_index"],
            insertion_order_id=record["insertion_order_id"],
            campaign_id=record["campaign_id"],
            display_name=record["insertion_order_name"],
            daily_impressions=record["daily_impressions"],
            daily_media_cost_micros=record["daily_media_cost_micros"],
        )
        for record in grouped.iter_rows(named=True)
    ]


def _flight_segments(draw: float, span: float, today: date) -> list[tuple[date, date]]:
    """Segments around today: running (60 %), not started (12 %), ended (13 %), two segments (15 %)."""
    before, after = 10 + int(span * 50), 5 + int((1 - span) * 55)
    if draw < 0.60:
        return [(today - timedelta(days=before), today + timedelta(days=after))]
    if draw < 0.72:
        start = today + timedelta(days=3 + int(span * 27))
        return [(start, start + timedelta(days=14 + after))]
    if draw < 0.85:
        end = today - timedelta(days=3 + int(span * 27))
        return [(end - timedelta(days=14 + before), end)]
    middle = today - timedelta(days=before // 2)
    return [
        (today - timedelta(days=40 + before), middle),
        (middle + timedelta(days=1), today + timedelta(days=after)),
    ]


def _insertion_order(plan: _Plan, advertiser: Advertiser, *, seed: int, today: date) -> dict[str, object]:
    def draw(purpose: str) -> float:
        return seeded_unit(seed, "insertion-order", plan.insertion_order_index, purpose)

    impressions_budget = draw("unit") < 0.15
    pacing_draw = draw("pacing-type")
    pacing_type = (
        "PACING_TYPE_AHEAD"
        if pacing_draw < 0.15
        else "PACING_TYPE_ASAP"
        if pacing_draw < 0.25
        else "PACING_TYPE_EVEN"
    )
    daily = not impressions_budget and draw("pacing-period") < 0.2
    target = _TARGET_PACING[int(draw("target") * len(_TARGET_PACING))]
    per_day = plan.daily_impressions if impressions_budget else plan.daily_media_cost_micros
    segments = []
    for number, (start, end) in enumerate(_flight_segments(draw("flight"), draw("span"), today), start=1):
        days = (end - start).days + 1
        amount = max(1, round(per_day * days / target))
        segments.append(
            {
                "budgetAmountMicros": str(amount),
                "description": f"Flight {number}",
                "dateRange": {"startDate": google_date(start), "endDate": google_date(end)},
            }
        )
    pacing: dict[str, object] = {
        "pacingPeriod": "PACING_PERIOD_DAILY" if daily else "PACING_PERIOD_FLIGHT",
        "pacingType": "PACING_TYPE_EVEN" if daily and pacing_type == "PACING_TYPE_AHEAD" else pacing_type,
    }
    if daily:
        pacing["dailyMaxMicros"] = str(round(plan.daily_media_cost_micros * 1.2))
    ended = all(date(**segment["dateRange"]["endDate"]) < today for segment in segments)
    return {
        "name": f"advertisers/{advertiser.advertiser_id}/insertionOrders/{plan.insertion_order_id}",
        "advertiserId": advertiser.advertiser_id,
        "campaignId": plan.campaign_id,
        "insertionOrderId": plan.insertion_order_id,
        "displayName": plan.display_name,
        "insertionOrderType": "RTB",
        "entityStatus": "ENTITY_STATUS_PAUSED" if ended else "ENTITY_STATUS_ACTIVE",
        "pacing": pacing,
        "frequencyCap": {"unlimited": True},
        "budget": {
            "budgetUnit": "BUDGET_UNIT_IMPRESSIONS" if impressions_budget else "BUDGET_UNIT_CURRENCY",
            "automationType": "INSERTION_ORDER_AUTOMATION_TYPE_NONE",
            "budgetSegments": segments,
        },
    }


def insertion_orders(hierarchy: Hierarchy, advertiser: Advertiser, *, today: date) -> list[dict[str, object]]:
    """Every insertion order of one advertiser, as the v4 API returns them."""
    return [
        _insertion_order(plan, advertiser, seed=hierarchy.seed, today=today)
        for plan in _plans(hierarchy, advertiser)
    ]
