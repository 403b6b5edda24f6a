"""The Delta lake: where each layer's tables live and how one partition is read or replaced.

``Lake`` names the root; ``delta`` writes Parquet with Polars and commits it to Delta Lake with an
atomic replace of one (org, pipeline, date) partition, safe for concurrent writers of other partitions.
"""

from etl_orchestrator.lake.delta import (
    PARTITION_COLUMNS,
    PartitionWrite,
    StagedFile,
    commit_partition,
    file_batches,
    iter_partition,
    partition_row_count,
    partition_written,
    read_partition,
    replace_partition,
    scan_partition,
    scan_partitions,
    stage_partition_file,
    table_exists,
    vacuum_table,
)
from etl_orchestrator.lake.paths import Lake, LakeLike

__all__ = [
    "PARTITION_COLUMNS",
    "Lake",
    "LakeLike",
    "PartitionWrite",
    "StagedFile",
    "commit_partition",
    "file_batches",
    "iter_partition",
    "partition_row_count",
    "partition_written",
    "read_partition",
    "replace_partition",
    "scan_partition",
    "scan_partitions",
    "stage_partition_file",
    "table_exists",
    "vacuum_table",
]
