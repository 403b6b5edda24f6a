"""Per-source mappings from Bronze columns (report headers, normalised) to the canonical Silver schema.

Bronze keeps headers as received, normalised only into valid column names (``normalise_headers``).
Each source lists, per canonical field, the Bronze names it may appear under, in order of
preference: header drift ("(Adv Currency)" vs "(Advertiser Currency)") is just two aliases.

Choices worth knowing:

- The Trade Desk: a TTD *Campaign* plays the role of a DV360 *insertion order* (it carries the budget
  and flight) and an *Ad Group* that of a line item. TTD has no media-plan level, so ``campaign_id``
  and ``insertion_order_id`` both take the TTD Campaign ID; TTD reports no revenue or billable
  impressions (null).
- ``csv``, ``parquet`` and ``jsonl`` files are a user's own exports in canonical-ish names: each field
  takes its canonical name or a common synonym (also camelCase, e.g. Amazon DSP's ``orderId``);
  ``source`` comes from a ``source`` column when the file has one, else it is the format's name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from etl_orchestrator.domain.schema import CANONICAL_COLUMNS, DIMENSIONS
from etl_orchestrator.layers import parsing
from etl_orchestrator.quality.engine import raw_column as text_column

ID_COLUMNS: tuple[str, ...] = ("advertiser_id", "campaign_id", "insertion_order_id", "line_item_id")
NAME_COLUMNS: tuple[str, ...] = ("advertiser_name", "campaign_name", "insertion_order_name", "line_item_name")
INTEGER_METRICS: tuple[str, ...] = ("impressions", "billable_impressions", "clicks")
FLOAT_METRICS: tuple[str, ...] = ("conversions",)
MONEY_METRICS: tuple[str, ...] = ("spend", "revenue")

SILVER_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "date": pl.Date(),
    **{column: pl.String() for column in DIMENSIONS if column not in ("source", "date")},
    **{column: pl.Int64() for column in INTEGER_METRICS},
    **{column: pl.Float64() for column in FLOAT_METRICS},
    **{column: parsing.MONEY for column in MONEY_METRICS},
}
assert tuple(SILVER_SCHEMA) == CANONICAL_COLUMNS


def normalise_header(header: str) -> str:
    """``"Media Cost (Advertiser Currency)"`` → ``media_cost_advertiser_currency``; ``orderId`` → ``order_id``."""
    name = header.replace("\ufeff", "").strip()
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    name = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    return name or "column"


# Bronze's partition columns: a report column normalised to one of these gets a ``_raw`` suffix.
RESERVED_NAMES: frozenset[str] = frozenset({"org_id", "pipeline_id", "date"})


def bronze_name(normalised: str) -> str:
    """The Bronze column of a normalised header (``date`` → ``date_raw``: ``date`` is the partition column)."""
    return f"{normalised}_raw" if normalised in RESERVED_NAMES else normalised


def normalise_headers(headers: Sequence[str]) -> list[str]:
    """Bronze column names: normalised, reserved names suffixed, repeats numbered (``_2``…), in order."""
    seen: dict[str, int] = {}
    names = []
    for header in headers:
        name = bronze_name(normalise_header(header))
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


@dataclass(frozen=True)
class SourceMapping:
    """How one source format's Bronze columns become canonical fields."""

    source_format: str
    source: str | None  # constant ``source`` value; None: read the ``source`` column, else the format
    aliases: Mapping[str, tuple[str, ...]]
    has_totals_row: bool = False

    def resolve(self, bronze_columns: Sequence[str]) -> dict[str, str | None]:
        """canonical field → the Bronze column holding it in this partition (None: absent)."""
        present = set(bronze_columns)
        return {field: next((bronze_name(alias) for alias in self.aliases.get(field, ())
                             if bronze_name(alias) in present), None)
                for field in CANONICAL_COLUMNS}

    def dimension_columns(self, bronze_columns: Sequence[str]) -> list[str]:
        """Bronze columns holding dimensions (all empty in a totals row)."""
        resolved = self.resolve(bronze_columns)
        return [column for field, column in resolved.items() if column and field in DIMENSIONS]

    def metric_columns(self, bronze_columns: Sequence[str]) -> dict[str, str]:
        """canonical metric → Bronze column, for the metrics present."""
        resolved = self.resolve(bronze_columns)
        return {field: column for field, column in resolved.items() if column and field not in DIMENSIONS}


def number_column(field: str) -> str:
    return f"__n_{field}"


NUMERIC_FIELDS: tuple[str, ...] = INTEGER_METRICS + FLOAT_METRICS + MONEY_METRICS


@dataclass(frozen=True)
class ColumnProfile:
    """What a Bronze column's cells look like in this partition, as far as parsing cares."""

    padded: bool = True  # some cell has a leading or trailing space (trimming copies the whole column)
    comma_decimals: bool = False  # some cell can only be a decimal-comma number ("16,25")


def profile_columns(frame: pl.LazyFrame, resolved: Mapping[str, str | None], *,
                    engine: str = "auto") -> dict[str, ColumnProfile]:
    """Profile the Bronze columns in one aggregate pass.

    Trimming is the costliest cleaning step and reports rarely pad cells, so it runs only on columns
    that need it; the decimal-comma check runs on money columns only.
    """
    money = {resolved[field] for field in MONEY_METRICS if resolved[field]}
    columns = sorted({column for column in resolved.values() if column})
    if not columns:
        return {}
    checks = [(pl.col(name).str.starts_with(" ") | pl.col(name).str.ends_with(" ")).any().alias(f"{name}\x00padded")
              for name in columns]
    checks += [pl.col(name).str.contains(parsing.DECIMAL_COMMA_HINT).any().alias(f"{name}\x00comma_decimals")
               for name in columns if name in money]
    row = frame.select(checks).collect(engine=engine).row(0, named=True)
    found: dict[str, dict[str, bool]] = {name: {} for name in columns}
    for key, value in row.items():
        name, flag = key.split("\x00")
        found[name][flag] = bool(value)
    return {name: ColumnProfile(**flags) for name, flags in found.items()}


PARTITION_DATE = "__partition_date"  # the partition's date, a column parse_frame adds for the date parser


def parse_stages(resolved: Mapping[str, str | None], mapping: SourceMapping, *, decimal_comma: bool,
                 profiles: Mapping[str, ColumnProfile] | None = None,
                 ) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr], dict[str, pl.Expr]]:
    """Four stages that turn Bronze columns into canonical ones, each string operation once per column.

    1. the Bronze columns used, whitespace-trimmed in place;
    2. cleaned text per field (``text_column``: null tokens → null), null where the source has no column;
    3. number text per numeric field (``number_column``);
    4. canonical field → typed expression over those.

    ``profiles`` (from ``profile_columns``) lets the first stage skip columns with nothing to trim.
    The partition's date is read from the ``PARTITION_DATE`` column, so the stages depend only on
    the file's shape and are built once per shape: building them is ~400 Python calls into Polars,
    a few milliseconds that a one-row partition would otherwise pay twice (rows and totals row).
    Callers must not modify what is returned.
    """
    return _stages(tuple(sorted(resolved.items())), mapping.source_format, mapping.source, decimal_comma,
                   None if profiles is None else tuple(sorted(profiles.items())))


@functools.lru_cache(maxsize=256)
def _stages(resolved_items: tuple[tuple[str, str | None], ...], source_format: str, source: str | None,
            decimal_comma: bool, profile_items: tuple[tuple[str, ColumnProfile], ...] | None,
            ) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr], dict[str, pl.Expr]]:
    resolved = dict(resolved_items)
    profiles = None if profile_items is None else dict(profile_items)
    used = sorted({column for column in resolved.values() if column})
    trimmed = [pl.col(column).str.strip_chars() for column in used
               if profiles is None or profiles.get(column, ColumnProfile()).padded]

    def raw(field: str) -> pl.Expr:
        column = resolved[field]
        return pl.col(column) if column else pl.lit(None, pl.String)

    cleaned = [parsing.without_null_tokens(raw(field)).alias(text_column(field)) for field in CANONICAL_COLUMNS]
    numbers = [parsing.number_text(pl.col(text_column(field)), decimal_comma=decimal_comma).alias(number_column(field))
               for field in NUMERIC_FIELDS]

    def clean(field: str) -> pl.Expr:
        return pl.col(text_column(field))

    typed: dict[str, pl.Expr] = {}
    if source is not None:
        typed["source"] = pl.lit(source)
    elif resolved["source"]:
        typed["source"] = pl.coalesce(clean("source").str.to_lowercase(), pl.lit(source_format))
    else:
        typed["source"] = pl.lit(source_format)
    typed["date"] = parsing.report_date(clean("date"), pl.col(PARTITION_DATE))
    for field in ID_COLUMNS:
        typed[field] = parsing.identifier(clean(field))
    for field in NAME_COLUMNS:
        typed[field] = clean(field)
    typed["currency"] = parsing.currency_code(clean("currency"))
    for field in INTEGER_METRICS:
        typed[field] = parsing.integer(pl.col(number_column(field)))
    for field in FLOAT_METRICS:
        typed[field] = parsing.floating(pl.col(number_column(field)))
    for field in MONEY_METRICS:
        typed[field] = parsing.money(pl.col(number_column(field)))
    return trimmed, cleaned, numbers, {field: typed[field].cast(dtype).alias(field)
                                       for field, dtype in SILVER_SCHEMA.items()}


def parse_frame(frame: pl.LazyFrame | pl.DataFrame, resolved: Mapping[str, str | None], mapping: SourceMapping, *,
                partition_date: date, decimal_comma: bool, keep: Sequence[str] = (),
                keep_text: Sequence[str] = (), profiles: Mapping[str, ColumnProfile] | None = None) -> pl.LazyFrame:
    """``frame``'s canonical typed columns, plus the ``keep`` columns and the cleaned text of ``keep_text``."""
    trimmed, cleaned, numbers, typed = parse_stages(resolved, mapping, decimal_comma=decimal_comma,
                                                    profiles=profiles)
    return (frame.lazy().with_columns(pl.lit(partition_date, pl.Date).alias(PARTITION_DATE))
            .with_columns(trimmed).with_columns(cleaned).with_columns(numbers)
            .select(*[pl.col(name) for name in keep], *typed.values(),
                    *[pl.col(text_column(field)) for field in keep_text]))


DV360 = SourceMapping(
    source_format="dv360", source="dv360", has_totals_row=True,
    aliases={
        "date": ("date",),
        "advertiser_id": ("advertiser_id",),
        "advertiser_name": ("advertiser", "advertiser_name"),
        "currency": ("advertiser_currency", "currency"),
        "campaign_id": ("campaign_id", "media_plan_id"),
        "campaign_name": ("campaign", "campaign_name", "media_plan", "media_plan_name"),
        "insertion_order_id": ("insertion_order_id",),
        "insertion_order_name": ("insertion_order", "insertion_order_name"),
        "line_item_id": ("line_item_id",),
        "line_item_name": ("line_item", "line_item_name"),
        "impressions": ("impressions",),
        "billable_impressions": ("billable_impressions",),
        "clicks": ("clicks",),
        "conversions": ("total_conversions", "conversions"),
        "spend": ("media_cost_advertiser_currency", "media_cost_adv_currency"),
        "revenue": ("revenue_adv_currency", "revenue_advertiser_currency"),
    },
)

TTD = SourceMapping(
    source_format="ttd", source="ttd",
    aliases={
        "date": ("date", "day"),
        "advertiser_id": ("advertiser_id",),
        "advertiser_name": ("advertiser", "advertiser_name"),
        "currency": ("advertiser_currency_code", "currency_code", "advertiser_currency"),
        "campaign_id": ("campaign_id",),
        "campaign_name": ("campaign", "campaign_name"),
        "insertion_order_id": ("campaign_id",),
        "insertion_order_name": ("campaign", "campaign_name"),
        "line_item_id": ("ad_group_id",),
        "line_item_name": ("ad_group", "ad_group_name"),
        "impressions": ("impressions",),
        "clicks": ("clicks",),
        "conversions": ("total_conversions", "conversions"),
        "spend": ("advertiser_cost_adv_currency", "advertiser_cost_advertiser_currency", "advertiser_cost"),
    },
)

_GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "date": ("date", "day", "report_date"),
    "advertiser_id": ("advertiser_id",),
    "advertiser_name": ("advertiser_name", "advertiser"),
    "currency": ("currency", "currency_code", "advertiser_currency", "order_currency"),
    "campaign_id": ("campaign_id", "order_id"),
    "campaign_name": ("campaign_name", "campaign", "order_name"),
    "insertion_order_id": ("insertion_order_id", "io_id", "order_id"),
    "insertion_order_name": ("insertion_order_name", "insertion_order", "io_name", "order_name"),
    "line_item_id": ("line_item_id", "li_id", "ad_group_id"),
    "line_item_name": ("line_item_name", "line_item", "li_name", "ad_group_name", "ad_group"),
    "impressions": ("impressions",),
    "billable_impressions": ("billable_impressions",),
    "clicks": ("clicks",),
    "conversions": ("conversions", "total_conversions", "total_purchases"),
    "spend": ("spend", "media_cost", "cost", "total_cost"),
    "revenue": ("revenue", "total_sales"),
}

MAPPINGS: dict[str, SourceMapping] = {
    "dv360": DV360,
    "ttd": TTD,
    **{name: SourceMapping(source_format=name, source=None, aliases=_GENERIC_ALIASES)
       for name in ("csv", "parquet", "jsonl")},
}


def mapping_for(source_format: str) -> SourceMapping:
    try:
        return MAPPINGS[source_format]
    except KeyError:
        raise ValueError(f"unknown source format {source_format!r}; expected one of {sorted(MAPPINGS)}") from None
