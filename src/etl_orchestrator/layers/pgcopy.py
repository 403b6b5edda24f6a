"""Encode Polars frames as PostgreSQL binary COPY data, column-wise (no per-row Python).

Why binary: with text or CSV COPY the server spends most of its time parsing numbers, dates and
UUIDs (measured: ~7 s of backend CPU for a million ``campaign_daily`` rows, against ~2.2 s with
binary).

The rows are encoded by pgpq (Rust, from Arrow arrays): each column is first given the Arrow type
whose binary form is its PostgreSQL type's (int4 → int32, numeric → decimal128, uuid → 16 fixed
bytes, which is also how a ``uuid`` travels). Values the same on every row (the partition's ids) are
broadcast as columns. Non-finite floats (NaN, infinity) are written as NULL: every float we store is
a ratio or a count, where they mean "no value".

pgpq replaced hand-built Arrow compute kernels (two to five per column, then a row-wise join): a
32,768-row ``campaign_daily`` batch, constants included, encodes in 16 ms against 46, and a one-row
batch in 0.9 ms against 4–6 (a kernel call costs about as much for one row as for thousands).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

PgType = Literal["int4", "int8", "float8", "numeric6", "date", "uuid", "text"]

# The Polars type a column is cast to, so that its Arrow array has the PostgreSQL type's binary form.
_POLARS_TYPE: dict[str, pl.DataType] = {
    "int4": pl.Int32(), "int8": pl.Int64(), "float8": pl.Float64(), "numeric6": pl.Decimal(38, 6),
    "date": pl.Date(), "text": pl.String(),
}
_UUID = pa.binary(16)
# The Arrow type of a constant, built straight from the Python value: going through a one-row Polars
# column (as ``_column`` does) cost ~0.25 ms per constant, a third of a one-row partition's encoding.
_ARROW_TYPE: dict[str, pa.DataType] = {
    "int4": pa.int32(), "int8": pa.int64(), "float8": pa.float64(), "numeric6": pa.decimal128(38, 6),
    "date": pa.date32(), "uuid": _UUID, "text": pa.large_string(),
}


@dataclass(frozen=True)
class PgColumn:
    name: str
    type: PgType


def _column(series: pl.Series, pg_type: PgType) -> pa.Array:
    if pg_type == "uuid":
        raw = series.cast(pl.String).str.replace_all("-", "", literal=True).str.decode("hex")
        return raw.to_arrow().cast(_UUID)
    series = series.cast(_POLARS_TYPE[pg_type])
    if pg_type == "float8":
        series = pl.select(pl.when(series.is_finite()).then(series)).to_series()
    return series.to_arrow()


def _constant(pg_type: PgType, value: Any, count: int) -> pa.Array:
    arrow_type = _ARROW_TYPE[pg_type]
    if value is None:
        return pa.nulls(count, arrow_type)
    if pg_type == "uuid":
        value = uuid.UUID(str(value)).bytes
    return pa.repeat(pa.scalar(value, arrow_type), count)


def encode_rows(frame: pl.DataFrame, columns: list[PgColumn], constants: list[tuple[PgType, Any]]) -> bytes:
    """The COPY payload (no header or trailer) of ``frame``: ``constants`` first, then ``columns``."""
    count = frame.height
    if count == 0:
        return b""
    arrays = [_constant(pg_type, value, count) for pg_type, value in constants]
    arrays += [_column(frame.get_column(column.name), column.type) for column in columns]
    batch = pa.RecordBatch.from_arrays(arrays, names=[f"c{index}" for index in range(len(arrays))])
    encoder = ArrowToPostgresBinaryEncoder(batch.schema)
    encoder.write_header()  # the encoder insists; the caller writes HEADER once per COPY
    rows = encoder.write_batch(batch)  # what the encoder's buffer let out; the rest comes with finish()
    rest = encoder.finish()
    return rows + rest[: -len(TRAILER)]
