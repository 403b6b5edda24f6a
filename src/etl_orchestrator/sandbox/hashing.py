"""Counter-based randomness as Polars expressions: the same inputs give the same numbers forever.

The generator never draws from a stateful RNG: every random number is a hash (SplitMix64's
finalizer) of what it belongs to — seed, row, day, purpose — so any subset of rows, any day and
any chunk can be generated on its own and still come out identical. Polars' own ``hash`` is only
stable within one Polars version, which is why this is spelled out.
"""

from __future__ import annotations

import polars as pl

_GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_MASK = 2**64 - 1


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _MASK, dtype=pl.UInt64)


def mix64(expr: pl.Expr) -> pl.Expr:
    """SplitMix64 of a UInt64 expression (UInt64 arithmetic in Polars wraps, as the algorithm needs)."""
    z = expr.cast(pl.UInt64) + _u64(_GOLDEN)
    z = (z ^ (z // 2**30)) * _u64(_MIX_1)
    z = (z ^ (z // 2**27)) * _u64(_MIX_2)
    return z ^ (z // 2**31)


def salt(*parts: int) -> int:
    """Fold integers (seed, day ordinal, purpose …) into one 64-bit salt, in plain Python."""
    value = 0
    for part in parts:
        value = mix64_int((value ^ (part & _MASK)) & _MASK)
    return value


def mix64_int(value: int) -> int:
    """The same SplitMix64 on a Python int, for per-report (not per-row) decisions."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK
    return z ^ (z >> 31)


def keyed(expr: pl.Expr, salt_value: int) -> pl.Expr:
    """A 64-bit hash of ``expr`` (e.g. a row index) under a salt."""
    return mix64(expr.cast(pl.UInt64) ^ _u64(salt_value))


def unit(hashed: pl.Expr) -> pl.Expr:
    """Map a 64-bit hash to a Float64 uniform in [0, 1)."""
    return (hashed // 2**11).cast(pl.Float64) / float(2**53)


def uniform(expr: pl.Expr, salt_value: int) -> pl.Expr:
    """A uniform [0, 1) number per value of ``expr`` under a salt."""
    return unit(keyed(expr, salt_value))
