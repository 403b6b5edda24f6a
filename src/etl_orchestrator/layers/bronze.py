"""Bronze: land a downloaded report file in the lake exactly as received, one partition at a time.

Every column is kept as a string under its normalised header name (the mapping to the original
headers is returned), plus lineage: ``_execution_id``, ``_ingested_at``, ``_source_file`` and
``_row_number`` (the 1-based position of the data row in the file). One Delta table per source
format (``bronze/<format>_report``), partitioned by org, pipeline and date; a run replaces its
partition atomically, so a retry or a crash never leaves half a partition or two copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import polars as pl

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake, LakeLike, replace_partition
from etl_orchestrator.layers.readers import read_landing_file

LINEAGE_COLUMNS: tuple[str, ...] = ("_execution_id", "_ingested_at", "_source_file", "_row_number")


@dataclass(frozen=True)
class BronzeResult:
    """What Bronze landed: counts and the file's own facts (never the rows)."""

    table_uri: str
    source_format: str
    records: int
    size_bytes: int
    columns: dict[str, str]  # Bronze column → header as received
    totals: dict[str, str] | None  # DV360 totals row: Bronze column → cell; None when the file has none
    footer: dict[str, str] = field(default_factory=dict)  # DV360 footer ("Report Time" → "2026/01/17 10:00 GMT")
    delta_version: int = 0


def land_to_bronze(lake: LakeLike, partition: PartitionRef, *, execution_id: UUID | str, source_format: str,
                   raw_path: Path | str, ingested_at: datetime) -> BronzeResult:
    """Replace the partition's Bronze rows with the data rows of ``raw_path``.

    Raises ``DataError`` when the file cannot be parsed at all, ``LakeBusyError``/``LakeStorageError``
    (transient) when the lake cannot take the write. Safe to run concurrently for other partitions.
    """
    lake = Lake.of(lake)
    raw_path = Path(raw_path)
    report = read_landing_file(raw_path, source_format)
    ingested_utc = ingested_at.astimezone(UTC) if ingested_at.tzinfo else ingested_at.replace(tzinfo=UTC)
    rows = report.data.with_row_index("_row_number", offset=1).with_columns(
        pl.col("_row_number").cast(pl.Int64),
        pl.lit(str(execution_id)).alias("_execution_id"),
        pl.lit(ingested_utc, pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(raw_path.name).alias("_source_file"),
    )
    write = replace_partition(lake.bronze(source_format), partition, rows,
                              metadata={"layer": "bronze", "execution_id": str(execution_id)})
    return BronzeResult(
        table_uri=write.table_uri, source_format=source_format, records=write.rows,
        size_bytes=raw_path.stat().st_size, columns=report.columns, totals=report.totals, footer=report.footer,
        delta_version=write.version,
    )
