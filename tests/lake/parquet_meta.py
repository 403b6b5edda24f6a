"""What a lake file's Parquet footer says of its columns: the codec tests' probe."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def codecs_and_statistics(path: Path | str) -> set[tuple[str, bool]]:
    """(codec, has min/max statistics) of every column of the file's first row group."""
    row_group = pq.read_metadata(path).row_group(0)
    return {(row_group.column(index).compression, row_group.column(index).is_stats_set)
            for index in range(row_group.num_columns)}
