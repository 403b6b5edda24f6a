"""Budget pacing formulas for one insertion-order budget segment (pure: no database, no I/O).

As of the last complete day ``as_of`` (DOMAIN.md):

- ``flight_days = end − start + 1``; ``days_elapsed = clamp(as_of − start + 1, 0, flight_days)``
- ``expected_spend_to_date = budget × days_elapsed / flight_days`` (even pacing; = budget after the flight)
- ``pacing_pct = spend_to_date / expected_spend_to_date × 100`` — null before the flight and for a zero budget
- ``projected_spend = spend_to_date / days_elapsed × flight_days``; ``projected_spend_7d`` extrapolates the
  trailing 7-day run rate (the days of the last week inside the flight) over the days left
- ``budget_remaining = budget − spend_to_date``; ``required_daily = budget_remaining / days left``
- status: below 90 → under, 90–110 → on_track, above 110 → over; AHEAD pacing tolerates up to 120;
  ASAP is never over (spending early is its point).

"Spend" is currency for ``BUDGET_UNIT_CURRENCY`` and impressions for ``BUDGET_UNIT_IMPRESSIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

UNDER_BELOW = 90.0
OVER_ABOVE = {"PACING_TYPE_EVEN": 110.0, "PACING_TYPE_AHEAD": 120.0}
RUN_RATE_DAYS = 7
_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class SegmentInput:
    budget: Decimal
    start: date
    end: date
    as_of: date
    spend_to_date: Decimal  # within [start, min(end, as_of)]
    spend_last_7_days: Decimal  # within the last RUN_RATE_DAYS days up to as_of, inside the flight
    pacing_type: str = "PACING_TYPE_EVEN"


@dataclass(frozen=True)
class PacingFigures:
    flight_days: int
    days_elapsed: int
    expected_spend_to_date: Decimal | None
    pacing_pct: float | None
    projected_spend: Decimal | None
    projected_spend_7d: Decimal | None
    budget_remaining: Decimal
    required_daily: Decimal | None
    status: str | None


def _money(value: Decimal) -> Decimal:
    return value.quantize(_MICRO, rounding=ROUND_HALF_EVEN)


def pacing_status(pacing_pct: float | None, pacing_type: str) -> str | None:
    if pacing_pct is None:
        return None
    if pacing_pct < UNDER_BELOW:
        return "under"
    if pacing_type == "PACING_TYPE_ASAP":
        return "on_track"
    return "over" if pacing_pct > OVER_ABOVE.get(pacing_type, OVER_ABOVE["PACING_TYPE_EVEN"]) else "on_track"


def run_rate_days(start: date, end: date, as_of: date) -> int:
    """Days of the trailing window (ending ``as_of``) that fall inside the flight."""
    window_start = max(start, date.fromordinal(as_of.toordinal() - RUN_RATE_DAYS + 1))
    window_end = min(end, as_of)
    return max(0, (window_end - window_start).days + 1)


def pace(segment: SegmentInput) -> PacingFigures:
    flight_days = (segment.end - segment.start).days + 1
    if flight_days <= 0:
        raise ValueError(f"segment ends ({segment.end}) before it starts ({segment.start})")
    days_elapsed = min(max((segment.as_of - segment.start).days + 1, 0), flight_days)
    days_left = flight_days - days_elapsed
    budget, spent = segment.budget, segment.spend_to_date
    expected = _money(budget * days_elapsed / flight_days)
    pacing_pct = float(spent / expected * 100) if days_elapsed > 0 and expected > 0 else None
    projected = _money(spent / days_elapsed * flight_days) if days_elapsed > 0 else None
    window = run_rate_days(segment.start, segment.end, segment.as_of)
    projected_7d = (_money(spent + segment.spend_last_7_days / window * days_left) if window > 0 else None)
    remaining = _money(budget - spent)
    return PacingFigures(
        flight_days=flight_days,
        days_elapsed=days_elapsed,
        expected_spend_to_date=expected if days_elapsed > 0 else None,
        pacing_pct=pacing_pct,
        projected_spend=projected,
        projected_spend_7d=projected_7d,
        budget_remaining=remaining,
        required_daily=_money(remaining / days_left) if days_left > 0 and budget > 0 else None,
        status=pacing_status(pacing_pct, segment.pacing_type),
    )
