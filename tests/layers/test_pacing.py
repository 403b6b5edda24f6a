"""The pacing formulas of one budget segment, without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from etl_orchestrator.layers.pacing import SegmentInput, pace, pacing_status, run_rate_days

START, END = date(2026, 1, 1), date(2026, 1, 10)  # a 10-day flight


def segment(as_of: date, spent: str, *, budget: str = "1000", last_7: str = "0", pacing_type: str = "PACING_TYPE_EVEN"):
    return SegmentInput(budget=Decimal(budget), start=START, end=END, as_of=as_of, spend_to_date=Decimal(spent),
                        spend_last_7_days=Decimal(last_7), pacing_type=pacing_type)


def test_mid_flight_even_pacing() -> None:
    figures = pace(segment(date(2026, 1, 4), "400", last_7="400"))
    assert (figures.flight_days, figures.days_elapsed) == (10, 4)
    assert figures.expected_spend_to_date == Decimal("400.000000")
    assert figures.pacing_pct == pytest.approx(100.0) and figures.status == "on_track"
    assert figures.projected_spend == Decimal("1000.000000")
    assert figures.projected_spend_7d == Decimal("1000.000000")  # 4 days in the window at 100/day, 6 left
    assert figures.budget_remaining == Decimal("600.000000")
    assert figures.required_daily == Decimal("100.000000")


def test_before_the_flight_nothing_is_judged() -> None:
    figures = pace(segment(date(2025, 12, 20), "0"))
    assert figures.days_elapsed == 0 and figures.pacing_pct is None and figures.status is None
    assert figures.expected_spend_to_date is None and figures.projected_spend is None
    assert figures.required_daily == Decimal("100.000000")


def test_after_the_flight_expected_is_the_whole_budget() -> None:
    figures = pace(segment(date(2026, 2, 1), "1200", last_7="0"))
    assert figures.days_elapsed == 10 and figures.expected_spend_to_date == Decimal("1000.000000")
    assert figures.pacing_pct == pytest.approx(120.0) and figures.status == "over"
    assert figures.required_daily is None and figures.budget_remaining == Decimal("-200.000000")
    assert figures.projected_spend_7d is None  # the last week is after the flight


def test_zero_budget_gives_no_pacing() -> None:
    figures = pace(segment(date(2026, 1, 5), "10", budget="0"))
    assert figures.pacing_pct is None and figures.status is None and figures.required_daily is None


def test_impression_budgets_pace_the_same_way() -> None:
    figures = pace(segment(date(2026, 1, 5), "250000", budget="1000000"))
    assert figures.pacing_pct == pytest.approx(50.0) and figures.status == "under"


@pytest.mark.parametrize(("pct", "pacing_type", "status"), [
    (89.9, "PACING_TYPE_EVEN", "under"), (90.0, "PACING_TYPE_EVEN", "on_track"),
    (110.0, "PACING_TYPE_EVEN", "on_track"), (110.1, "PACING_TYPE_EVEN", "over"),
    (115.0, "PACING_TYPE_AHEAD", "on_track"), (120.5, "PACING_TYPE_AHEAD", "over"),
    (300.0, "PACING_TYPE_ASAP", "on_track"), (50.0, "PACING_TYPE_ASAP", "under"), (None, "PACING_TYPE_EVEN", None),
])
def test_status_bands(pct: float | None, pacing_type: str, status: str | None) -> None:
    assert pacing_status(pct, pacing_type) == status


def test_run_rate_window_is_clipped_to_the_flight() -> None:
    assert run_rate_days(START, END, date(2026, 1, 3)) == 3
    assert run_rate_days(START, END, date(2026, 1, 9)) == 7
    assert run_rate_days(START, END, date(2026, 1, 14)) == 3
    assert run_rate_days(START, END, date(2025, 12, 31)) == 0


def test_a_segment_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        pace(SegmentInput(budget=Decimal(1), start=END, end=START, as_of=END, spend_to_date=Decimal(0),
                          spend_last_7_days=Decimal(0)))
