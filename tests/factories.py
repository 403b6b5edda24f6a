"""Test data builders: DV360-like and TTD-like report files, small and messy or large and fast.

- ``build_dv360_csv`` writes a small DV360 CSV from explicit rows of raw cells, exactly as given
  (messy values included), with an optional totals row and a footer: the property-based tests use it.
- ``write_dv360_csv`` writes a large, realistic DV360 CSV quickly (vectorised with Polars): the
  benchmark's million-row file. Every data row has its own line item, so the grain is unique unless
  ``duplicate_fraction`` asks for re-delivered rows.
- ``build_ttd_csv`` writes a Trade Desk MyReports CSV, optionally in a decimal-comma locale.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

DV360_DIMENSION_HEADERS: tuple[str, ...] = (
    "Date", "Advertiser ID", "Advertiser", "Advertiser Currency", "Campaign ID", "Campaign",
    "Insertion Order ID", "Insertion Order", "Line Item ID", "Line Item",
)
DV360_METRIC_HEADERS: tuple[str, ...] = (
    "Impressions", "Billable Impressions", "Clicks", "Click Rate (CTR)", "Total Conversions",
    "Media Cost (Advertiser Currency)", "Total Media Cost (Advertiser Currency)", "Revenue (Adv Currency)",
)
DV360_HEADERS: tuple[str, ...] = DV360_DIMENSION_HEADERS + DV360_METRIC_HEADERS

# Header drift seen in real exports: the same metric under another display name.
DV360_HEADER_DRIFT: dict[str, str] = {
    "Media Cost (Advertiser Currency)": "Media Cost (Adv Currency)",
    "Total Media Cost (Advertiser Currency)": "Total Media Cost (Adv Currency)",
    "Revenue (Adv Currency)": "Revenue (Advertiser Currency)",
}

DV360_SUMMED_METRICS: tuple[str, ...] = (
    "Impressions", "Billable Impressions", "Clicks", "Total Conversions",
    "Media Cost (Advertiser Currency)", "Total Media Cost (Advertiser Currency)", "Revenue (Adv Currency)",
)

DEFAULT_FOOTER: tuple[str, ...] = (
    "Report Time:,2026/01/17 10:00 GMT",
    "Date Range:,2026/01/16 to 2026/01/16",
    "Group By:,Date,Advertiser,Campaign,Insertion Order,Line Item",
    "MRC Accredited Metrics,Active View metrics are accredited only when Measurement Source = Measured",
    "Reporting numbers from the previous 7 days may fluctuate for up to seven days.",
    "Filter by Advertiser ID:,1001",
)

TTD_HEADERS: tuple[str, ...] = (
    "Date", "Advertiser ID", "Campaign ID", "Campaign", "Ad Group ID", "Ad Group",
    "Advertiser Currency Code", "Impressions", "Clicks", "Advertiser Cost (Adv Currency)",
)

_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK")


def dv360_row(
    *,
    report_date: date = date(2026, 1, 16),
    advertiser_id: str = "1001",
    currency: str = "USD",
    campaign_id: str = "2001",
    insertion_order_id: str = "3001",
    line_item_id: str = "4001",
    impressions: str = "1000",
    billable_impressions: str | None = None,
    clicks: str = "10",
    conversions: str = "1",
    media_cost: str = "5.000000",
    revenue: str = "7.500000",
) -> dict[str, str]:
    """One DV360 data row as raw cells, keyed by the canonical DV360 headers."""
    return {
        "Date": report_date.strftime("%Y/%m/%d"),
        "Advertiser ID": advertiser_id,
        "Advertiser": f"Advertiser {advertiser_id}",
        "Advertiser Currency": currency,
        "Campaign ID": campaign_id,
        "Campaign": f"Campaign {campaign_id}",
        "Insertion Order ID": insertion_order_id,
        "Insertion Order": f"IO {insertion_order_id}",
        "Line Item ID": line_item_id,
        "Line Item": f"Line item {line_item_id}",
        "Impressions": impressions,
        "Billable Impressions": impressions if billable_impressions is None else billable_impressions,
        "Clicks": clicks,
        "Click Rate (CTR)": "1.00%",
        "Total Conversions": conversions,
        "Media Cost (Advertiser Currency)": media_cost,
        "Total Media Cost (Advertiser Currency)": media_cost,
        "Revenue (Adv Currency)": revenue,
    }


def _plain_number(cell: str) -> Decimal:
    cleaned = cell.replace(",", "").strip()
    try:
        return Decimal(cleaned)
    except ArithmeticError:
        return Decimal(0)


def dv360_totals(rows: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The totals row DV360 would print: the sum of every summed metric (unparseable cells count 0)."""
    totals: dict[str, str] = {}
    for header in DV360_SUMMED_METRICS:
        total = sum((_plain_number(row.get(header, "") or "0") if row.get(header, "-") != "-" else Decimal(0)
                     for row in rows), Decimal(0))
        totals[header] = f"{total:f}"
    return totals


def build_dv360_csv(
    rows: Sequence[Mapping[str, str]],
    *,
    headers: Sequence[str] = DV360_HEADERS,
    rename: Mapping[str, str] | None = None,
    totals: Mapping[str, str] | bool = True,
    footer: Sequence[str] = DEFAULT_FOOTER,
    line_ending: str = "\n",
) -> bytes:
    """A DV360 CSV: header, the rows exactly as given, a totals row, a blank line, the footer.

    ``totals=True`` computes the correct totals row, a mapping writes that one (a wrong checksum),
    ``False`` writes none. ``rename`` maps canonical headers to drifted ones (``DV360_HEADER_DRIFT``).
    """
    rename = dict(rename or {})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_ending)
    writer.writerow([rename.get(header, header) for header in headers])
    for row in rows:
        writer.writerow([row.get(header, "") for header in headers])
    if totals is not False:
        total_cells = dv360_totals(rows) if totals is True else dict(totals)
        writer.writerow([total_cells.get(header, "") for header in headers])
    buffer.write(line_ending)
    for line in footer:
        buffer.write(line + line_ending)
    return buffer.getvalue().encode("utf-8")


def build_ttd_csv(rows: Sequence[Mapping[str, str]], *, headers: Sequence[str] = TTD_HEADERS,
                  delimiter: str = ",") -> bytes:
    """A Trade Desk MyReports CSV (no totals row, no footer)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(header, "") for header in headers])
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class GeneratedReport:
    path: Path
    data_rows: int
    size_bytes: int


def _with_thousands(value: pl.Expr) -> pl.Expr:
    """Format a non-negative integer with ``,`` thousands separators (values below 10^9)."""
    millions = value // 1_000_000
    thousands = (value // 1_000) % 1_000
    units = value % 1_000
    return (
        pl.when(value >= 1_000_000)
        .then(pl.format("{},{},{}", millions, thousands.cast(pl.String).str.zfill(3),
                        units.cast(pl.String).str.zfill(3)))
        .when(value >= 1_000)
        .then(pl.format("{},{}", value // 1_000, units.cast(pl.String).str.zfill(3)))
        .otherwise(value.cast(pl.String))
    )


def dv360_frame(rows: int, *, report_date: date, seed: int = 7, duplicate_fraction: float = 0.0) -> pl.DataFrame:
    """``rows`` DV360 data rows as raw strings, built column-wise (about 150 bytes a row as CSV)."""
    index = pl.int_range(0, rows, dtype=pl.Int64, eager=True)
    # Mixing the index with the seed spreads values without a per-row Python random call.
    noise = ((index * 2_654_435_761 + seed * 97) % 1_000_003).cast(pl.Int64)
    line_item = index + 10_000_000
    insertion_order = line_item // 8
    campaign = insertion_order // 4
    advertiser = campaign // 50
    impressions = 200 + (noise * 37) % 150_000
    clicks = (impressions * ((noise % 23) + 1)) // 2_000
    media_cost_micros = impressions * (1_500 + noise % 2_000)  # CPM 1.5–3.5 in currency units
    frame = pl.DataFrame({"index": index}).select(
        pl.lit(report_date.strftime("%Y/%m/%d")).alias("Date"),
        advertiser.cast(pl.String).alias("Advertiser ID"),
        pl.format("Adv {}", advertiser).alias("Advertiser"),
        pl.lit(pl.Series(_CURRENCIES)).gather(advertiser % len(_CURRENCIES)).alias("Advertiser Currency"),
        campaign.cast(pl.String).alias("Campaign ID"),
        pl.format("Campaign {}", campaign).alias("Campaign"),
        insertion_order.cast(pl.String).alias("Insertion Order ID"),
        pl.format("IO {}", insertion_order).alias("Insertion Order"),
        line_item.cast(pl.String).alias("Line Item ID"),
        pl.format("LI {}", line_item).alias("Line Item"),
        _with_thousands(impressions).alias("Impressions"),
        _with_thousands(impressions - noise % 50).alias("Billable Impressions"),
        clicks.cast(pl.String).alias("Clicks"),
        pl.format("{}%", ((clicks * 10_000) // impressions.clip(1)) / 100).alias("Click Rate (CTR)"),
        (clicks // 7).cast(pl.String).alias("Total Conversions"),
        (media_cost_micros / 1e6).round(6).cast(pl.String).alias("Media Cost (Advertiser Currency)"),
        (media_cost_micros * 1.1 / 1e6).round(6).cast(pl.String).alias("Total Media Cost (Advertiser Currency)"),
        (media_cost_micros * 1.5 / 1e6).round(6).cast(pl.String).alias("Revenue (Adv Currency)"),
    )
    if duplicate_fraction > 0:
        duplicates = frame.sample(fraction=duplicate_fraction, seed=seed)
        frame = pl.concat([frame, duplicates])
    return frame


def write_dv360_csv(
    path: Path,
    rows: int,
    *,
    report_date: date = date(2026, 1, 16),
    seed: int = 7,
    duplicate_fraction: float = 0.0,
    chunk_rows: int = 1_000_000,
) -> GeneratedReport:
    """Write a large DV360 CSV (header, rows, correct totals row, blank line, footer) in chunks."""
    path = Path(path)
    summed: dict[str, float] = {header: 0.0 for header in DV360_SUMMED_METRICS}
    written = 0
    data_rows = 0
    with path.open("wb") as handle:
        while written < rows:
            count = min(chunk_rows, rows - written)
            chunk = dv360_frame(count, report_date=report_date, seed=seed + written,
                                duplicate_fraction=duplicate_fraction)
            chunk = chunk.with_columns(
                (pl.col("Line Item ID").cast(pl.Int64) + written).cast(pl.String).alias("Line Item ID"))
            chunk.write_csv(handle, include_header=written == 0)
            numbers = chunk.select(
                pl.col(header).str.replace_all(",", "", literal=True).cast(pl.Float64).sum()
                for header in DV360_SUMMED_METRICS
            ).row(0, named=True)
            for header, value in numbers.items():
                summed[header] += value
            written += count
            data_rows += chunk.height
        totals = {header: (f"{value:.0f}" if "Cost" not in header and "Revenue" not in header else f"{value:.6f}")
                  for header, value in summed.items()}
        total_line = io.StringIO()
        csv.writer(total_line, lineterminator="\n").writerow([totals.get(header, "") for header in DV360_HEADERS])
        handle.write(total_line.getvalue().encode())
        handle.write(b"\n" + "\n".join(DEFAULT_FOOTER).encode() + b"\n")
    return GeneratedReport(path=path, data_rows=data_rows, size_bytes=path.stat().st_size)
