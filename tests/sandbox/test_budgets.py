"""Insertion-order budgets agree with the synthetic spend: pacing comes out under, on track and over."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import polars as pl

from etl_orchestrator.sandbox.budgets import insertion_orders
from etl_orchestrator.sandbox.generator import day_metrics, plan_day
from etl_orchestrator.sandbox.hierarchy import build_hierarchy

TODAY = date(2026, 3, 1)
AS_OF = TODAY - timedelta(days=1)  # the last complete day
HIERARCHY = build_hierarchy(42, 2_000, 12)


def daily_delivery(days: int) -> pl.DataFrame:
    """Spend (media cost, micros) and impressions per insertion order and day, as reports carry them."""
    frames = []
    for back in range(days):
        day = AS_OF - timedelta(days=back)
        metrics = day_metrics(
            HIERARCHY.line_items, plan_day(day, today=TODAY, pull=1, drift=False), HIERARCHY.seed
        )
        frames.append(
            metrics.group_by("insertion_order_id")
            .agg(pl.col("media_cost").sum(), pl.col("impressions").sum())
            .with_columns(day=pl.lit(day))
        )
    return pl.concat(frames)


def pacing_status(pct: float) -> str:
    return "under" if pct < 90 else "over" if pct > 110 else "on_track"


def test_running_flights_pace_under_on_track_and_over() -> None:
    delivery = daily_delivery(days=130)
    statuses: Counter[str] = Counter()
    for advertiser in HIERARCHY.advertisers:
        for order in insertion_orders(HIERARCHY, advertiser, today=TODAY):
            in_impressions = order["budget"]["budgetUnit"] == "BUDGET_UNIT_IMPRESSIONS"
            for segment in order["budget"]["budgetSegments"]:
                start, end = (date(**segment["dateRange"][key]) for key in ("startDate", "endDate"))
                if not start <= AS_OF <= end:
                    continue
                elapsed, flight = (AS_OF - start).days + 1, (end - start).days + 1
                delivered = delivery.filter(
                    (pl.col("insertion_order_id") == order["insertionOrderId"])
                    & pl.col("day").is_between(start, AS_OF)
                )
                spend = delivered["impressions"].sum() if in_impressions else delivered["media_cost"].sum()
                expected = int(segment["budgetAmountMicros"]) * elapsed / flight
                statuses[pacing_status(spend / expected * 100)] += 1
    assert set(statuses) == {"under", "on_track", "over"}, statuses
    assert min(statuses.values()) >= 3, statuses


def test_flights_sit_before_around_and_after_today() -> None:
    orders = [
        order for adv in HIERARCHY.advertisers for order in insertion_orders(HIERARCHY, adv, today=TODAY)
    ]
    starts = [date(**order["budget"]["budgetSegments"][0]["dateRange"]["startDate"]) for order in orders]
    ends = [date(**order["budget"]["budgetSegments"][-1]["dateRange"]["endDate"]) for order in orders]
    assert any(start > TODAY for start in starts) and any(end < TODAY for end in ends)
    assert any(start <= TODAY <= end for start, end in zip(starts, ends, strict=True))
    assert any(len(order["budget"]["budgetSegments"]) == 2 for order in orders)
