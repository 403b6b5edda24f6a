"""Regenerate the sample exports in this directory: ``.venv/bin/python tests/cases/make_cases.py``.

They come from the sandbox's own generator (seed 7, 3 advertisers), so they have the real quirks:
DV360 totals rows and footers, quoted thousands, ``-`` nulls, header aliases, TTD locales, and in
``dv360/bad_rows.csv`` one of each scripted defect. Each file stays well under 100 KB.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path

import polars as pl

from etl_orchestrator.sandbox.dv360_report import DIMENSIONS, METRICS, Dv360Layout
from etl_orchestrator.sandbox.faults import BadRows, RowFault
from etl_orchestrator.sandbox.generator import BlockCache, ReportLayout, day_metrics, plan_day, write_report
from etl_orchestrator.sandbox.hierarchy import build_hierarchy
from etl_orchestrator.sandbox.ttd_report import TtdLayout

HERE = Path(__file__).parent
TODAY = date(2026, 1, 20)
HIERARCHY = build_hierarchy(7, 60, 3)
GROUP_BYS = tuple(name for name in DIMENSIONS if name != "FILTER_ADVERTISER_TIMEZONE")


def dv360_layout(day: date, variant: int) -> Dv360Layout:
    return Dv360Layout(
        group_bys=GROUP_BYS,
        metrics=tuple(METRICS),
        header_variant=variant,
        report_time=datetime(2026, 1, 20, 6, 12),
        start=day,
        end=day,
        advertiser_filter=tuple(adv.advertiser_id for adv in HIERARCHY.advertisers),
        restated=False,
    )


def write(target: Path, layout: ReportLayout, day: date, bad_rows: BadRows | None = None) -> None:
    rows = BlockCache().rows(HIERARCHY, layout)
    with tempfile.TemporaryDirectory() as scratch:
        written = write_report(
            Path(scratch),
            layout=layout,
            rows=rows,
            bad_rows=bad_rows or BadRows(),
            seed=HIERARCHY.seed,
            days=[plan_day(day, today=TODAY, pull=1, drift=False)],
            today=TODAY,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for part in written.parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, out)


def canonical_export(day: date) -> pl.DataFrame:
    """A user's own export: one row per line item, canonical-ish column names, amounts as floats."""
    metrics = day_metrics(
        HIERARCHY.line_items, plan_day(day, today=TODAY, pull=1, drift=False), HIERARCHY.seed
    )
    return metrics.select(
        pl.lit(day).alias("date"),
        "advertiser_id",
        "advertiser_name",
        "campaign_id",
        "campaign_name",
        "insertion_order_id",
        "insertion_order_name",
        "line_item_id",
        "line_item_name",
        "currency",
        "impressions",
        "clicks",
        pl.col("total_conversions").alias("conversions"),
        (pl.col("media_cost") / 1_000_000).round(6).alias("spend"),
        (pl.col("revenue") / 1_000_000).round(6).alias("revenue"),
    )


def main() -> None:
    exports = HERE / "exports"
    write(
        exports / "dv360_2026-01-15.csv",
        dv360_layout(date(2026, 1, 15), 0),
        date(2026, 1, 15),
    )
    ttd = TtdLayout(date_format="International", numeric_format="International")
    write(exports / "ttd_myreports_20260116.csv", ttd, date(2026, 1, 16))
    canonical_export(date(2026, 1, 17)).write_parquet(exports / "campaign_daily_2026_01_17.parquet")
    canonical_export(date(2026, 1, 18)).write_ndjson(exports / "campaign_daily-2026-01-18.jsonl")

    one_of_each = RowFault(count=1)
    write(
        HERE / "dv360" / "bad_rows.csv",
        dv360_layout(date(2026, 1, 14), 2),
        date(2026, 1, 14),
        BadRows(
            missing_ids=one_of_each,
            non_numeric=one_of_each,
            duplicates=one_of_each,
            negative=one_of_each,
            unknown_currency=one_of_each,
        ),
    )
    write(
        HERE / "dv360" / "adv_currency_headers.csv",
        dv360_layout(date(2026, 1, 13), 1),
        date(2026, 1, 13),
    )
    us = TtdLayout()
    write(HERE / "ttd" / "myreports_us.csv", us, date(2026, 1, 13))


if __name__ == "__main__":
    main()
