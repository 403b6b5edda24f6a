"""Encode Polars frames as PostgreSQL binary COPY data, column-wise (no per-row Python).

Why binary: with text or CSV COPY the server spends most of its time parsing numbers, dates and
UUIDs (measured: ~7 s of backend CPU for a million ``campaign_daily`` rows, against ~2.2 s with
binary). Building the binary rows costs the client about as much as writing CSV, and it runs while
the server ingests the previous batch.

A binary COPY row is ``int16 field count`` then, per field, ``int32 length`` (-1 for NULL) and the
value in network byte order. Each field becomes Arrow arrays of per-row byte strings (the length
prefix and the value, big-endian via ``binary_reverse``); one ``binary_join_element_wise`` then
concatenates them row by row, and the joined array's data buffer *is* the COPY payload. Values the
same on every row (the partition's ids) are encoded once and broadcast. Non-finite floats (NaN,
infinity) are written as NULL: every float we store is a ratio or a count, where they mean "no value".
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
PG_EPOCH_DAYS = 10_957  # 2000-01-01 − 1970-01-01

PgType = Literal["int4", "int8", "float8", "numeric6", "date", "uuid", "text"]
_WIDTH = {"int4": 4, "int8": 8, "float8": 8, "date": 4}
_EMPTY = pa.scalar(b"", pa.large_binary())
_NULL = pa.scalar(struct.pack("!i", -1), pa.large_binary())
_NUMERIC_HEAD_POSITIVE = pa.scalar(struct.pack("!ihhhh", 20, 6, 3, 0x0000, 6), pa.large_binary())
_NUMERIC_HEAD_NEGATIVE = pa.scalar(struct.pack("!ihhhh", 20, 6, 3, 0x4000, 6), pa.large_binary())
MAX_NUMERIC6 = Decimal(10) ** 12  # the fixed encoding below holds integer parts below 10^12 (in int64 micros)


@dataclass(frozen=True)
class PgColumn:
    name: str
    type: PgType


def _scalar(data: bytes) -> pa.Scalar:
    return pa.scalar(data, pa.large_binary())


def encode_constant(pg_type: PgType, value: Any) -> bytes:
    """One field (length and value) for a value that is the same on every row."""
    if value is None:
        return struct.pack("!i", -1)
    if pg_type == "int4":
        return struct.pack("!ii", 4, value)
    if pg_type == "int8":
        return struct.pack("!iq", 8, value)
    if pg_type == "float8":
        return struct.pack("!id", 8, value)
    if pg_type == "date":
        return struct.pack("!ii", 4, (value - date(2000, 1, 1)).days)
    if pg_type == "uuid":
        return struct.pack("!i", 16) + uuid.UUID(str(value)).bytes
    if pg_type == "text":
        data = str(value).encode()
        return struct.pack("!i", len(data)) + data
    raise ValueError(f"no constant encoding for {pg_type}")


def _big_endian(values: pa.Array, width: int) -> pa.Array:
    """Each fixed-width value's bytes, most significant first (nulls stay null)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    validity, data = values.buffers()[0], values.buffers()[1]
    raw = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values), [validity, data], offset=values.offset)
    return pc.binary_reverse(pc.cast(raw, pa.large_binary()))


def _prefix(values: pa.Array, width: int) -> pa.Array | pa.Scalar:
    """The length prefix: a broadcast constant when nothing is null."""
    length = _scalar(struct.pack("!i", width))
    if values.null_count == 0:
        return length
    return pc.if_else(pc.is_valid(values), length, _NULL)


def _fixed(series: pl.Series, pg_type: PgType) -> list[Any]:
    width = _WIDTH[pg_type]
    if pg_type == "date":
        series = series.cast(pl.Int32) - PG_EPOCH_DAYS
    elif pg_type == "float8":
        series = series.cast(pl.Float64)
        series = pl.select(pl.when(series.is_finite()).then(series)).to_series()
    else:
        series = series.cast(pl.Int32 if pg_type == "int4" else pl.Int64)
    values = series.to_arrow()
    return [_prefix(values, width), pc.fill_null(_big_endian(values, width), _EMPTY)]


def _numeric6(series: pl.Series) -> list[Any]:
    """``numeric`` with 6 decimals, in a fixed 6-digit base-10000 form PostgreSQL normalises on receipt.

    Digits: 4 integer groups (weight 3) and 2 fraction groups (the 6 decimals, padded to 8).
    """
    micros = series.cast(pl.Decimal(38, 6)).to_physical().cast(pl.Int64)
    magnitude = micros.abs()
    integer_part, fraction = magnitude // 1_000_000, magnitude % 1_000_000
    high = (integer_part // 10**12 % 10_000 * 2**48 + integer_part // 10**8 % 10_000 * 2**32
            + integer_part // 10**4 % 10_000 * 2**16 + integer_part % 10_000).cast(pl.UInt64)
    low = ((fraction // 100) * 2**16 + (fraction % 100) * 100).cast(pl.UInt32)
    valid = micros.is_not_null().to_arrow()
    negative = (micros < 0).fill_null(False).to_arrow()
    head = pc.if_else(negative, _NUMERIC_HEAD_NEGATIVE, _NUMERIC_HEAD_POSITIVE)
    if micros.null_count():
        head = pc.if_else(valid, head, _NULL)
    return [head, pc.fill_null(_big_endian(high.to_arrow(), 8), _EMPTY),
            pc.fill_null(_big_endian(low.to_arrow(), 4), _EMPTY)]


def _text(series: pl.Series) -> list[Any]:
    values = pc.cast(series.cast(pl.String).to_arrow(), pa.large_binary())
    lengths = pc.binary_length(values).cast(pa.int32())
    prefix = _big_endian(lengths, 4)
    if values.null_count:
        prefix = pc.fill_null(prefix, _NULL)
    return [prefix, pc.fill_null(values, _EMPTY)]


def _uuid(series: pl.Series) -> list[Any]:
    raw = series.cast(pl.String).str.replace_all("-", "", literal=True).str.decode("hex").to_arrow()
    raw = pc.cast(raw, pa.large_binary())
    return [_prefix(raw, 16), pc.fill_null(raw, _EMPTY)]


def _check_numeric_range(series: pl.Series, name: str) -> None:
    largest = series.abs().max()
    if largest is not None and Decimal(str(largest)) >= MAX_NUMERIC6:
        raise ValueError(f"{name}: {largest} is too large for the binary numeric encoding")


def encode_rows(frame: pl.DataFrame, columns: list[PgColumn], constants: list[tuple[PgType, Any]]) -> memoryview:
    """The COPY payload (no header or trailer) of ``frame``: ``constants`` first, then ``columns``."""
    count = frame.height
    if count == 0:
        return memoryview(b"")
    leading = struct.pack("!h", len(constants) + len(columns))
    leading += b"".join(encode_constant(pg_type, value) for pg_type, value in constants)
    parts: list[Any] = [_scalar(leading)]
    for column in columns:
        series = frame.get_column(column.name)
        if column.type in _WIDTH:
            parts += _fixed(series, column.type)
        elif column.type == "numeric6":
            _check_numeric_range(series, column.name)
            parts += _numeric6(series)
        elif column.type == "uuid":
            parts += _uuid(series)
        else:
            parts += _text(series)
    if all(isinstance(part, pa.Scalar) for part in parts):
        return memoryview(b"".join(part.as_py() for part in parts) * count)
    joined = pc.binary_join_element_wise(*parts, _EMPTY)
    joined = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
    offsets = memoryview(joined.buffers()[1]).cast("q")
    start, end = offsets[joined.offset], offsets[joined.offset + count]
    return memoryview(joined.buffers()[2])[start:end]
