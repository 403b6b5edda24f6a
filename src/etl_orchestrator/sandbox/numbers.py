"""Render integer columns as report text (``"1,234"``, ``12.345678``, ``0.13%``), fast.

Formatting numbers is most of the cost of writing a CSV, so the common case is a lookup: every
value below one million is rendered once into a table and a column is rendered by ``gather``.
Values outside the tables (negative refunds, huge totals) take the general expression path, chosen
per chunk by ``fits_tables``. Both paths produce the same text; a test holds them to it.
Python versions (``grouped_text`` …) render the single totals row.
"""

from __future__ import annotations

from functools import cache

import polars as pl

TABLE_SIZE = 1_000_000
MICROS = 1_000_000
_THOUSAND = 1_000


def _separated(magnitude: pl.Expr) -> pl.Expr:
    """A non-negative Int64 with thousands separators, unquoted (``1,234,567``)."""
    groups = [
        pl.lit(",") + ((magnitude // 10**power) % _THOUSAND).cast(pl.String).str.zfill(3)
        for power in (9, 6, 3, 0)
    ]
    body = pl.when(magnitude >= 10**12).then(pl.concat_str([(magnitude // 10**12).cast(pl.String), *groups]))
    for index, power in enumerate((9, 6, 3)):
        body = body.when(magnitude >= 10**power).then(
            pl.concat_str([(magnitude // 10**power).cast(pl.String), *groups[index + 1 :]])
        )
    return body.otherwise(magnitude.cast(pl.String))


def _table(text: pl.Expr, name: str) -> pl.Series:
    return pl.select(text.alias(name)).to_series()


_VALUES = pl.int_range(TABLE_SIZE, dtype=pl.Int64)
_QUOTE_IF_GROUPED = pl.when(_VALUES >= _THOUSAND).then(pl.lit('"')).otherwise(pl.lit(""))


@cache
def _grouped_table() -> pl.Series:
    """0 … 999,999 as DV360 writes counts: ``999``, ``"1,234"``."""
    return _table(pl.concat_str([_QUOTE_IF_GROUPED, _separated(_VALUES), _QUOTE_IF_GROUPED]), "grouped")


@cache
def _opened_units_table() -> pl.Series:
    """0 … 999,999 as the units of an amount, with the cell's opening quote when grouped: ``"1,234``."""
    return _table(pl.concat_str([_QUOTE_IF_GROUPED, _separated(_VALUES)]), "units")


@cache
def _plain_table() -> pl.Series:
    return _table(_VALUES.cast(pl.String), "plain")


@cache
def _fraction_table() -> pl.Series:
    """0 … 999,999 as six zero-padded digits, the decimals of a micros amount."""
    return _table(_VALUES.cast(pl.String).str.zfill(6), "decimals")


@cache
def _percent_table() -> pl.Series:
    """Basis points 0 … 10,000 as ``0.00%`` … ``100.00%``."""
    basis_points = pl.int_range(10_001, dtype=pl.Int64)
    return _table(
        pl.concat_str(
            [
                (basis_points // 100).cast(pl.String),
                pl.lit("."),
                (basis_points % 100).cast(pl.String).str.zfill(2),
                pl.lit("%"),
            ]
        ),
        "percent",
    )


def fits_tables(frame: pl.DataFrame, integer_columns: list[str], micros_columns: list[str]) -> bool:
    """True when every value can be rendered by table lookup (non-negative and below one million units)."""
    if frame.is_empty():
        return True
    # Micros are bounded in units (floor division keeps a negative amount negative).
    bounds = frame.select(
        *[pl.col(name).min().alias(f"{name}_min") for name in integer_columns],
        *[pl.col(name).max().alias(f"{name}_max") for name in integer_columns],
        *[(pl.col(name) // MICROS).min().alias(f"{name}_min") for name in micros_columns],
        *[(pl.col(name) // MICROS).max().alias(f"{name}_max") for name in micros_columns],
    ).row(0, named=True)
    return all(value is None or 0 <= value < TABLE_SIZE for value in bounds.values())


def _quoted_when_grouped(magnitude: pl.Expr, text: pl.Expr) -> pl.Expr:
    return pl.when(magnitude >= _THOUSAND).then(pl.lit('"') + text + pl.lit('"')).otherwise(text)


def _sign(value: pl.Expr) -> pl.Expr:
    return pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))


def grouped(value: pl.Expr, *, fast: bool) -> pl.Expr:
    """An Int64 count with quoted thousands separators; null stays null."""
    if fast:
        return pl.lit(_grouped_table()).gather(value)
    magnitude = value.abs()
    return _quoted_when_grouped(magnitude, _sign(value) + _separated(magnitude))


def plain(value: pl.Expr, *, fast: bool) -> pl.Expr:
    """An Int64 count without separators."""
    return pl.lit(_plain_table()).gather(value) if fast else value.cast(pl.String)


def money(micros: pl.Expr, *, fast: bool) -> pl.Expr:
    """Micros as DV360 writes amounts: ``12.345678``, ``"1,234.500000"``."""
    if fast:
        units = micros // MICROS
        closing_quote = pl.lit(pl.Series(["", '"'])).gather((units >= _THOUSAND).cast(pl.UInt32))
        return pl.concat_str(
            [
                pl.lit(_opened_units_table()).gather(units),
                pl.lit("."),
                pl.lit(_fraction_table()).gather(micros % MICROS),
                closing_quote,
            ]
        )
    magnitude = micros.abs()
    text = pl.concat_str(
        [
            _sign(micros),
            _separated(magnitude // MICROS),
            pl.lit("."),
            (magnitude % MICROS).cast(pl.String).str.zfill(6),
        ]
    )
    return _quoted_when_grouped(magnitude // MICROS, text)


def plain_money(micros: pl.Expr, *, fast: bool, decimal_comma: bool = False) -> pl.Expr:
    """Micros without separators (TTD): ``16.250000``, or ``"16,250000"`` in the international format."""
    if fast:
        units, decimals = (
            plain(micros // MICROS, fast=True),
            pl.lit(_fraction_table()).gather(micros % MICROS),
        )
        sign = pl.lit("")
    else:
        magnitude = micros.abs()
        units, decimals = (
            (magnitude // MICROS).cast(pl.String),
            (magnitude % MICROS).cast(pl.String).str.zfill(6),
        )
        sign = _sign(micros)
    if decimal_comma:
        return pl.concat_str([pl.lit('"'), sign, units, pl.lit(","), decimals, pl.lit('"')])
    return pl.concat_str([sign, units, pl.lit("."), decimals])


def percent(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """A rate in percent with two decimals (``0.13%``), rounded half up; 0 impressions give ``0.00%``."""
    basis_points = (numerator * 20_000 // denominator.clip(lower_bound=1) + 1) // 2
    return pl.lit(_percent_table()).gather(basis_points.clip(0, 10_000))


# -- the single totals row, in Python --------------------------------------------------------------


def grouped_text(value: int) -> str:
    text = f"{value:,}"
    return f'"{text}"' if abs(value) >= _THOUSAND else text


def money_text(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    units, decimals = divmod(abs(micros), MICROS)
    text = f"{sign}{units:,}.{decimals:06d}"
    return f'"{text}"' if units >= _THOUSAND else text


def percent_text(numerator: int, denominator: int) -> str:
    basis_points = min(10_000, max(0, (numerator * 20_000 // max(denominator, 1) + 1) // 2))
    return f"{basis_points // 100}.{basis_points % 100:02d}%"


def warm_tables() -> None:
    """Build every lookup table now (about a second), so no report pays for it."""
    for build in (_grouped_table, _opened_units_table, _plain_table, _fraction_table, _percent_table):
        build()
