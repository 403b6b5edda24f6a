"""Lake files give their cached pages back once read, and lose nothing doing so."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import pagecache, read_partition, release_partition, replace_partition
from tests.lake.residency import resident_pages, written_back


def _file(tmp_path: Path, size: int = 1 << 20) -> tuple[Path, bytes]:
    content = bytes(range(256)) * (size // 256)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    return path, content


def test_a_released_file_leaves_the_page_cache_and_keeps_its_bytes(tmp_path: Path) -> None:
    path, content = _file(tmp_path)
    written_back(path)
    assert resident_pages(path) == 256  # 1 MiB just written: all cached

    pagecache.release([path])

    assert resident_pages(path) == 0
    assert path.read_bytes() == content


def test_starting_the_writeback_keeps_the_pages_cached_for_the_reader(tmp_path: Path) -> None:
    path, content = _file(tmp_path)

    pagecache.start_writeback(path)

    assert resident_pages(path) == 256
    assert path.read_bytes() == content
    written_back(path)  # the writeback it started, finished
    pagecache.release([path])
    assert resident_pages(path) == 0


def test_a_file_still_dirty_when_released_keeps_its_pages(tmp_path: Path) -> None:
    path, content = _file(tmp_path)

    pagecache.release([path])  # DONTNEED drops clean pages only: unwritten data is never lost

    assert path.read_bytes() == content


def test_releasing_a_missing_file_is_not_an_error(tmp_path: Path) -> None:
    pagecache.release([tmp_path / "gone.parquet", tmp_path])  # a vacuumed file; a directory


def test_release_partition_drops_the_partition_files_and_reads_still_see_every_row(tmp_path: Path) -> None:
    table = str(tmp_path / "table")
    partition = PartitionRef(org_id=1, pipeline_id=uuid.uuid4(), date=date(2026, 1, 16))
    other = partition.model_copy(update={"date": date(2026, 1, 17)})
    rows = pl.DataFrame({"line_item_id": [str(index) for index in range(50_000)], "spend": range(50_000)})
    for target in (partition, other):
        replace_partition(table, target, rows)
    files = {target: next((tmp_path / "table").glob(f"**/date={target.date}/*.parquet")) for target in (partition, other)}
    for path in files.values():
        written_back(path)
        assert resident_pages(path) > 0

    release_partition(table, partition)

    assert resident_pages(files[partition]) == 0
    assert resident_pages(files[other]) > 0  # only the partition asked for
    read = read_partition(table, partition, columns=["line_item_id", "spend"])
    assert read is not None
    assert_frame_equal(read, rows)
