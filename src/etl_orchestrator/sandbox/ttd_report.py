"""The Trade Desk MyReports CSV: one header line, one row per ad group and day, no totals, no footer.

A TTD campaign is the hierarchy's insertion order and an ad group its line item; TTD ids are short
lowercase alphanumerics (base 36 of the DV360-style ids). ``ReportDateFormat`` and
``ReportNumericFormat`` pick the locale: ``Sortable`` dates are ``2026-01-16``, ``International``
ones ``16/01/2026``, ``US`` ones ``01/16/2026``; the ``International`` numeric format writes
``"16,250000"`` (decimal comma, so the cell is quoted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from etl_orchestrator.sandbox.generator import NOT_A_NUMBER, csv_cell
from etl_orchestrator.sandbox.hierarchy import TTD_ID_MULTIPLIER, TTD_ID_WIDTH
from etl_orchestrator.sandbox.numbers import plain, plain_money

HEADERS = (
    "Date",
    "Advertiser ID",
    "Campaign ID",
    "Campaign",
    "Ad Group ID",
    "Ad Group",
    "Advertiser Currency Code",
    "Impressions",
    "Clicks",
    "Advertiser Cost (Adv Currency)",
)
DATE_FORMATS = {"Sortable": "%Y-%m-%d", "International": "%d/%m/%Y", "US": "%m/%d/%Y"}
NUMERIC_FORMATS = ("US", "International")
_BASE36_DIGITS = pl.Series(list("0123456789abcdefghijklmnopqrstuvwxyz"))


def base36_cell(numeric_id: pl.Expr) -> pl.Expr:
    """A numeric-string id as ``hierarchy.ttd_id`` spells it; an empty id stays empty."""
    value = numeric_id.cast(pl.Int64, strict=False) * TTD_ID_MULTIPLIER % 36**TTD_ID_WIDTH
    digits = [
        pl.lit(_BASE36_DIGITS).gather(value // 36**power % 36) for power in range(TTD_ID_WIDTH - 1, -1, -1)
    ]
    return pl.concat_str(digits).fill_null("")


@dataclass(frozen=True)
class TtdLayout:
    date_format: str = "Sortable"
    numeric_format: str = "US"

    @property
    def block_key(self) -> tuple[str, ...]:
        return ("ttd",)

    def header(self) -> str:
        return ",".join(HEADERS) + "\n"

    def dimension_block(self, line_items: pl.DataFrame) -> pl.Series:
        return line_items.select(
            pl.concat_str(
                [
                    base36_cell(pl.col("advertiser_id")),
                    base36_cell(pl.col("insertion_order_id")),
                    csv_cell(pl.col("insertion_order_name")),
                    base36_cell(pl.col("line_item_id")),
                    csv_cell(pl.col("line_item_name")),
                    pl.col("currency"),
                ],
                separator=",",
            ).alias("block")
        ).to_series()

    def cells(self, day: date, *, fast: bool) -> list[pl.Expr]:
        impressions = (
            pl.when(pl.col("non_numeric"))
            .then(pl.lit(NOT_A_NUMBER))
            .otherwise(plain(pl.col("impressions"), fast=fast))
        )
        return [
            pl.lit(day.strftime(DATE_FORMATS[self.date_format])).alias("date"),
            pl.col("block"),
            impressions.alias("impressions"),
            plain(pl.col("clicks"), fast=fast).alias("clicks"),
            plain_money(
                pl.col("total_media_cost"), fast=fast, decimal_comma=self.numeric_format == "International"
            ).alias("cost"),
        ]

    def trailer(self, sums: dict[str, int]) -> str:
        return ""
