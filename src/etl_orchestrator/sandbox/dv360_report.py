"""The DV360 (Bid Manager v2) CSV: display-name headers, quirky numbers, totals row and footer.

A file is: the header line; one row per line item and day (``YYYY/MM/DD`` dates, counts ≥ 1000
as ``"1,234"``, money with 6 decimals, ``-`` for nulls such as untracked conversions, CTR as
``0.13%``); a totals row whose dimension cells are empty and whose metric cells are the exact sums
of every numeric cell above it (so duplicates and refunds count; ``N/A`` cells do not); a blank
line; a footer whose length varies with the query (filters, restatement note).

Columns come in DV360's canonical order whatever the order of the query's groupBys and metrics.
The money headers drift between "(Adv Currency)" and "(Advertiser Currency)" by query (see
``HEADER_VARIANTS``); the caller picks the variant from the query's fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from etl_orchestrator.sandbox.generator import NOT_A_NUMBER, csv_cell
from etl_orchestrator.sandbox.numbers import grouped, grouped_text, money, money_text, percent, percent_text

DIMENSIONS: dict[str, tuple[str, str]] = {
    # API name → (CSV header, hierarchy column); FILTER_DATE is rendered per day, not from the hierarchy.
    "FILTER_DATE": ("Date", ""),
    "FILTER_ADVERTISER": ("Advertiser ID", "advertiser_id"),
    "FILTER_ADVERTISER_NAME": ("Advertiser", "advertiser_name"),
    "FILTER_ADVERTISER_CURRENCY": ("Advertiser Currency", "currency"),
    "FILTER_ADVERTISER_TIMEZONE": ("Advertiser Time Zone", "time_zone"),
    "FILTER_MEDIA_PLAN": ("Campaign ID", "campaign_id"),
    "FILTER_MEDIA_PLAN_NAME": ("Campaign", "campaign_name"),
    "FILTER_INSERTION_ORDER": ("Insertion Order ID", "insertion_order_id"),
    "FILTER_INSERTION_ORDER_NAME": ("Insertion Order", "insertion_order_name"),
    "FILTER_LINE_ITEM": ("Line Item ID", "line_item_id"),
    "FILTER_LINE_ITEM_NAME": ("Line Item", "line_item_name"),
}
REQUIRED_GROUP_BYS = ("FILTER_DATE", "FILTER_LINE_ITEM")
"""The sandbox reports at line-item grain only; it does not aggregate to coarser grains."""

_NAME_COLUMNS = {"advertiser_name", "campaign_name", "insertion_order_name", "line_item_name"}


@dataclass(frozen=True)
class _Metric:
    header: str
    cell: Callable[[bool], pl.Expr]
    total: Callable[[dict[str, int]], str]


def _count(column: str, header: str) -> _Metric:
    return _Metric(
        header, lambda fast: grouped(pl.col(column), fast=fast), lambda sums: grouped_text(sums[column])
    )


def _money(column: str, header: str) -> _Metric:
    return _Metric(
        header, lambda fast: money(pl.col(column), fast=fast), lambda sums: money_text(sums[column])
    )


def _impressions_cell(fast: bool) -> pl.Expr:
    cell = grouped(pl.col("impressions"), fast=fast)
    return pl.when(pl.col("non_numeric")).then(pl.lit(NOT_A_NUMBER)).otherwise(cell)


METRICS: dict[str, _Metric] = {
    "METRIC_IMPRESSIONS": _Metric(
        "Impressions", _impressions_cell, lambda sums: grouped_text(sums["impressions"])
    ),
    "METRIC_BILLABLE_IMPRESSIONS": _count("billable_impressions", "Billable Impressions"),
    "METRIC_CLICKS": _count("clicks", "Clicks"),
    "METRIC_CTR": _Metric(
        "Click Rate (CTR)",
        lambda fast: percent(pl.col("clicks"), pl.col("impressions")),
        lambda sums: percent_text(sums["clicks"], sums["impressions"]),
    ),
    "METRIC_TOTAL_CONVERSIONS": _count("total_conversions", "Total Conversions"),
    "METRIC_LAST_CLICKS": _count("post_click_conversions", "Post-Click Conversions"),
    "METRIC_LAST_IMPRESSIONS": _count("post_view_conversions", "Post-View Conversions"),
    "METRIC_MEDIA_COST_ADVERTISER": _money("media_cost", "Media Cost"),
    "METRIC_TOTAL_MEDIA_COST_ADVERTISER": _money("total_media_cost", "Total Media Cost"),
    "METRIC_REVENUE_ADVERTISER": _money("revenue", "Revenue"),
}
_MONEY_METRICS = (
    "METRIC_MEDIA_COST_ADVERTISER",
    "METRIC_TOTAL_MEDIA_COST_ADVERTISER",
    "METRIC_REVENUE_ADVERTISER",
)

HEADER_VARIANTS: tuple[tuple[str, str, str], ...] = (
    # Currency suffix of Media Cost, Total Media Cost, Revenue — as different exports spell them.
    ("(Advertiser Currency)", "(Advertiser Currency)", "(Adv Currency)"),
    ("(Adv Currency)", "(Adv Currency)", "(Adv Currency)"),
    ("(Advertiser Currency)", "(Advertiser Currency)", "(Advertiser Currency)"),
)

ACCREDITATION_NOTE = (
    'MRC Accredited Metrics,"Active View metrics are accredited only when Measurement Source = '
    'Measured or Measurable; other metrics are not accredited by the MRC."'
)
RESTATEMENT_NOTE = "Note:,Reporting numbers from the last seven days may fluctuate for up to seven days."


def header_for(api_name: str, variant: int) -> str:
    if api_name in DIMENSIONS:
        return DIMENSIONS[api_name][0]
    metric = METRICS[api_name]
    if api_name in _MONEY_METRICS:
        return f"{metric.header} {HEADER_VARIANTS[variant][_MONEY_METRICS.index(api_name)]}"
    return metric.header


def canonical(names: list[str], known: dict[str, object]) -> tuple[str, ...]:
    """The names in DV360's column order (unknown names must be rejected before)."""
    return tuple(name for name in known if name in set(names))


@dataclass(frozen=True)
class Dv360Layout:
    """One DV360 report's columns, header spelling and footer."""

    group_bys: tuple[str, ...]
    metrics: tuple[str, ...]
    header_variant: int
    report_time: datetime
    start: date
    end: date
    advertiser_filter: tuple[str, ...]
    restated: bool

    @property
    def block_key(self) -> tuple[str, ...]:
        return ("dv360", *self.group_bys)

    def header(self) -> str:
        return (
            ",".join(header_for(name, self.header_variant) for name in self.group_bys + self.metrics) + "\n"
        )

    def dimension_block(self, line_items: pl.DataFrame) -> pl.Series:
        columns = [DIMENSIONS[name][1] for name in self.group_bys if name != "FILTER_DATE"]
        cells = [
            csv_cell(pl.col(column)) if column in _NAME_COLUMNS else pl.col(column) for column in columns
        ]
        return line_items.select(pl.concat_str(cells, separator=",").alias("block")).to_series()

    def cells(self, day: date, *, fast: bool) -> list[pl.Expr]:
        date_cell = pl.lit(day.strftime("%Y/%m/%d")).alias("date")
        return [date_cell, pl.col("block"), *(METRICS[name].cell(fast).alias(name) for name in self.metrics)]

    def trailer(self, sums: dict[str, int]) -> str:
        totals = [""] * len(self.group_bys) + [METRICS[name].total(sums) for name in self.metrics]
        footer = [
            f"Report Time:,{self.report_time:%Y/%m/%d %H:%M} GMT",
            f"Date Range:,{self.start:%Y/%m/%d} to {self.end:%Y/%m/%d}",
            "Group By:," + ",".join(header_for(name, self.header_variant) for name in self.group_bys),
            ACCREDITATION_NOTE,
        ]
        if self.restated:
            footer.append(RESTATEMENT_NOTE)
        footer += [f"Filter by Advertiser ID:,{advertiser_id}" for advertiser_id in self.advertiser_filter]
        return ",".join(totals) + "\n\n" + "\n".join(footer) + "\n"
