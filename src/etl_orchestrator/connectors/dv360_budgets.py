"""Parse DV360 API v4 insertion orders into ``domain.budgets.InsertionOrder``.

Currency budgets: ``budgetAmountMicros`` / 1e6 in the advertiser's currency (an exact Decimal).
Impression budgets: ``budgetAmountMicros`` holds the impression count and is kept as it is.
``dailyMaxMicros`` (daily pacing) is a currency amount in micros.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from etl_orchestrator.domain.budgets import BudgetSegment, InsertionOrder
from etl_orchestrator.domain.errors import DataError

MICROS = Decimal(1_000_000)
IMPRESSIONS_UNIT = "BUDGET_UNIT_IMPRESSIONS"


def _google_date(value: dict[str, Any]) -> date:
    return date(int(value["year"]), int(value["month"]), int(value["day"]))


def parse_insertion_order(resource: dict[str, Any], *, currency: str | None) -> InsertionOrder:
    """One v4 InsertionOrder resource; DataError naming the insertion order if it is malformed."""
    try:
        budget = resource["budget"]
        unit = budget.get("budgetUnit", "BUDGET_UNIT_CURRENCY")
        scale = Decimal(1) if unit == IMPRESSIONS_UNIT else MICROS
        segments = tuple(
            BudgetSegment(
                amount=Decimal(int(segment["budgetAmountMicros"])) / scale,
                start_date=_google_date(segment["dateRange"]["startDate"]),
                end_date=_google_date(segment["dateRange"]["endDate"]),
            )
            for segment in budget.get("budgetSegments", [])
        )
        pacing = resource.get("pacing", {})
        daily_max = pacing.get("dailyMaxMicros")
        return InsertionOrder(
            advertiser_id=str(resource["advertiserId"]),
            insertion_order_id=str(resource["insertionOrderId"]),
            display_name=str(resource.get("displayName", "")),
            currency=currency,
            budget_unit=unit,
            pacing_period=pacing.get("pacingPeriod", "PACING_PERIOD_FLIGHT"),
            pacing_type=pacing.get("pacingType", "PACING_TYPE_EVEN"),
            daily_max=Decimal(int(daily_max)) / MICROS if daily_max is not None else None,
            segments=segments,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        name = resource.get("name") if isinstance(resource, dict) else None
        raise DataError(
            f"malformed DV360 insertion order {name}: {type(exc).__name__}: {exc}", source="dv360"
        ) from exc
