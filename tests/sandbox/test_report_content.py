"""What the generated reports contain: DV360 CSV structure, money, determinism, drift, bad rows."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from etl_orchestrator.sandbox.dv360_report import DIMENSIONS, HEADER_VARIANTS, METRICS, Dv360Layout
from etl_orchestrator.sandbox.faults import BadRows, RowFault
from etl_orchestrator.sandbox.generator import (
    UNKNOWN_CURRENCY,
    BlockCache,
    ReportFile,
    plan_day,
    write_report,
)
from etl_orchestrator.sandbox.hierarchy import build_hierarchy
from etl_orchestrator.sandbox.numbers import fits_tables, grouped, money, money_text, percent
from tests.sandbox.reading import Dv360File, number, read_dv360

TODAY = date(2026, 1, 20)
HIERARCHY = build_hierarchy(11, 400, 5)
GROUP_BYS = tuple(name for name in DIMENSIONS if name != "FILTER_ADVERTISER_TIMEZONE")
BLOCKS = BlockCache()


def layout(day: date, *, variant: int = 0, advertisers: tuple[str, ...] = ()) -> Dv360Layout:
    return Dv360Layout(
        group_bys=GROUP_BYS,
        metrics=tuple(METRICS),
        header_variant=variant,
        report_time=datetime(2026, 1, 20, 6),
        start=day,
        end=day,
        advertiser_filter=advertisers,
        restated=(TODAY - day).days < 7,
    )


def generate(
    directory: Path,
    day: date,
    *,
    pull: int = 1,
    bad_rows: BadRows | None = None,
    variant: int = 0,
    advertisers: tuple[str, ...] = (),
) -> tuple[ReportFile, Dv360File]:
    report_layout = layout(day, variant=variant, advertisers=advertisers)
    rows = BLOCKS.rows(HIERARCHY, report_layout)
    if advertisers:
        adv = HIERARCHY.advertiser(advertisers[0])
        assert adv is not None
        rows = rows.slice(adv.first_row, adv.row_count)
    written = write_report(
        directory,
        layout=report_layout,
        rows=rows,
        bad_rows=bad_rows or BadRows(),
        seed=HIERARCHY.seed,
        days=[plan_day(day, today=TODAY, pull=pull, drift=True)],
        today=TODAY,
    )
    text = b"".join(part.read_bytes() for part in written.parts).decode()
    return written, read_dv360(text)


def test_header_uses_display_names_with_the_variant_spelling(tmp_path: Path) -> None:
    _, report = generate(tmp_path, date(2025, 12, 1), variant=0)
    assert report.header[:4] == ["Date", "Advertiser ID", "Advertiser", "Advertiser Currency"]
    assert report.header[-3:] == [
        "Media Cost (Advertiser Currency)",
        "Total Media Cost (Advertiser Currency)",
        "Revenue (Adv Currency)",
    ]
    _, other = generate(tmp_path / "b", date(2025, 12, 1), variant=1)
    assert other.header[-1] == "Revenue (Adv Currency)" and other.header[-3] == "Media Cost (Adv Currency)"
    assert len(HEADER_VARIANTS) >= 2


def test_totals_row_is_the_exact_sum_of_the_data_rows(tmp_path: Path) -> None:
    written, report = generate(tmp_path, date(2025, 12, 1))
    assert written.rows == len(report.rows) == 400
    assert report.totals[: len(GROUP_BYS)] == [""] * len(GROUP_BYS)
    for header in report.header[len(GROUP_BYS) :]:
        if header == "Click Rate (CTR)":
            continue
        cells = [number(cell) for cell in report.column(header)]
        assert sum(cell for cell in cells if cell is not None) == number(
            report.totals[report.header.index(header)]
        )


def test_numbers_are_quirky_like_dv360(tmp_path: Path) -> None:
    _, report = generate(tmp_path, date(2025, 12, 1))
    impressions = report.column("Impressions")
    assert any("," in cell for cell in impressions) and all(
        cell.replace(",", "").isdigit() for cell in impressions
    )
    assert all(cell.endswith("%") for cell in report.column("Click Rate (CTR)"))
    assert "-" in report.column("Total Conversions")  # untracked conversions are null
    assert all(row[0] == "2025/12/01" for row in report.rows)
    assert all(len(cell.split(".")[1]) == 6 for cell in report.column("Revenue (Adv Currency)"))


def test_money_is_consistent_revenue_over_total_media_cost_over_media_cost(tmp_path: Path) -> None:
    _, report = generate(tmp_path, date(2025, 12, 1))
    media, total, revenue = (report.column(header) for header in report.header[-3:])
    for media_cost, total_media_cost, revenue_cell in zip(media, total, revenue, strict=True):
        assert number(revenue_cell) >= number(total_media_cost) >= number(media_cost) >= 0


def test_footer_follows_a_blank_line_and_varies_with_the_query(tmp_path: Path) -> None:
    _, unfiltered = generate(tmp_path / "a", date(2025, 12, 1))
    advertiser = HIERARCHY.advertisers[1].advertiser_id
    _, filtered = generate(tmp_path / "b", date(2025, 12, 1), advertisers=(advertiser,))
    labels = [line[0] for line in unfiltered.footer]
    assert labels[:4] == ["Report Time:", "Date Range:", "Group By:", "MRC Accredited Metrics"]
    assert unfiltered.footer[0][1] == "2026/01/20 06:00 GMT"
    assert ["Filter by Advertiser ID:", advertiser] in filtered.footer
    assert len(filtered.footer) == len(unfiltered.footer) + 1
    _, recent = generate(tmp_path / "c", TODAY - timedelta(days=2))
    assert any("fluctuate" in " ".join(line) for line in recent.footer)


def test_advertiser_filter_gives_that_advertisers_rows_of_the_full_report(tmp_path: Path) -> None:
    advertiser = HIERARCHY.advertisers[2]
    _, full = generate(tmp_path / "full", date(2025, 12, 1))
    _, only = generate(tmp_path / "one", date(2025, 12, 1), advertisers=(advertiser.advertiser_id,))
    assert len(only.rows) == advertiser.row_count
    assert only.rows == [row for row in full.rows if row[1] == advertiser.advertiser_id]


def test_old_dates_never_drift_and_recent_dates_drift_per_pull(tmp_path: Path) -> None:
    old = date(2025, 12, 1)
    assert generate(tmp_path / "1", old, pull=1)[1] == generate(tmp_path / "2", old, pull=9)[1]
    recent = TODAY - timedelta(days=1)
    first, again, second = (
        generate(tmp_path / name, recent, pull=pull)[1] for name, pull in (("3", 1), ("4", 1), ("5", 2))
    )
    assert first == again and first.rows != second.rows
    moved = [
        abs(number(a) / number(b) - 1)
        for a, b in zip(first.column("Impressions"), second.column("Impressions"), strict=True)
        if number(b)
    ]
    assert 0 < max(moved) < 0.07  # slight: at most ±3 % each way


def test_scripted_bad_rows_appear_exactly(tmp_path: Path) -> None:
    bad_rows = BadRows(
        missing_ids=RowFault(count=2),
        non_numeric=RowFault(count=3),
        duplicates=RowFault(count=4),
        negative=RowFault(count=5),
        unknown_currency=RowFault(count=6),
    )
    written, report = generate(tmp_path, date(2025, 12, 1), bad_rows=bad_rows)
    assert written.rows == len(report.rows) == 400 + 4
    assert report.column("Line Item ID").count("") == 2
    assert report.column("Impressions").count("N/A") == 3
    assert sum(count - 1 for count in Counter(map(tuple, report.rows)).values()) == 4
    assert sum(cell.startswith(("-", '"-')) for cell in report.column("Revenue (Adv Currency)")) == 5
    assert report.column("Advertiser Currency").count(UNKNOWN_CURRENCY) == 6
    impressions = [number(cell) for cell in report.column("Impressions")]
    assert sum(cell for cell in impressions if cell is not None) == number(
        report.totals[report.header.index("Impressions")]
    )


def test_bad_row_rates_hit_about_that_share(tmp_path: Path) -> None:
    _, report = generate(tmp_path, date(2025, 12, 1), bad_rows=BadRows(unknown_currency=RowFault(rate=0.1)))
    assert 20 <= report.column("Advertiser Currency").count(UNKNOWN_CURRENCY) <= 60


@pytest.mark.parametrize(
    "values", [[0, 7, 999, 1000, 123456, 999999], [1_000_000, 12_345_678_901, -5, -1234]]
)
def test_table_and_general_formatting_agree(values: list[int]) -> None:
    micros = [value * 1_000_000 + (123_457 if value >= 0 else -123_457) for value in values]
    frame = pl.DataFrame({"count": values, "micros": micros})
    assert frame.select(money(pl.col("micros"), fast=False)).to_series().to_list() == list(
        map(money_text, micros)
    )
    if min(values) >= 0 and max(values) < 1_000_000:
        fast = frame.select(
            grouped(pl.col("count"), fast=True).alias("c"), money(pl.col("micros"), fast=True).alias("m")
        )
        slow = frame.select(
            grouped(pl.col("count"), fast=False).alias("c"), money(pl.col("micros"), fast=False).alias("m")
        )
        assert fast.equals(slow)
    texts = frame.select(grouped(pl.col("count"), fast=False)).to_series().to_list()
    assert texts == [f'"{value:,}"' if abs(value) >= 1000 else str(value) for value in values]


@pytest.mark.parametrize(
    ("counts", "micros", "fits"),
    [
        ([5, 999_999], [67_213_466, 999_999_999_999], True),  # every amount ≥ 1 unit still fits: bounded in units
        ([5], [-1], False),  # a refund needs the sign
        ([1_000_000], [0], False),
        ([5], [1_000_000_000_000], False),  # a million units
    ],
)
def test_which_chunks_the_lookup_tables_can_render(counts: list[int], micros: list[int], fits: bool) -> None:
    frame = pl.DataFrame({"count": counts, "micros": micros})
    assert fits_tables(frame, ["count"], ["micros"]) is fits


def test_ctr_rounds_half_up_to_two_decimals() -> None:
    frame = pl.DataFrame({"clicks": [13, 1, 0, 5], "impressions": [10_000, 8, 0, 1_000_000]})
    assert frame.select(percent(pl.col("clicks"), pl.col("impressions"))).to_series().to_list() == [
        "0.13%",
        "12.50%",
        "0.00%",
        "0.00%",
    ]
