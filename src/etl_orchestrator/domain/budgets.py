"""Insertion orders with budget segments and pacing settings (DV360 API v4 shape, normalised)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class BudgetSegment(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Decimal  # currency units (budgetAmountMicros / 1e6) or impressions, per the IO's budget_unit
    start_date: date
    end_date: date


class InsertionOrder(BaseModel):
    """One insertion order as Gold needs it for pacing."""

    model_config = ConfigDict(frozen=True)

    advertiser_id: str
    insertion_order_id: str
    display_name: str
    currency: str | None = None
    budget_unit: str = "BUDGET_UNIT_CURRENCY"  # or BUDGET_UNIT_IMPRESSIONS
    pacing_period: str = "PACING_PERIOD_FLIGHT"  # or PACING_PERIOD_DAILY
    pacing_type: str = "PACING_TYPE_EVEN"  # or PACING_TYPE_AHEAD, PACING_TYPE_ASAP
    daily_max: Decimal | None = None  # currency units, with PACING_PERIOD_DAILY
    segments: tuple[BudgetSegment, ...] = ()
