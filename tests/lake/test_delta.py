"""Partition replace on real Delta tables: atomic, idempotent, safe under concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import (
    commit_partition,
    delta,
    iter_partition,
    partition_row_count,
    partition_written,
    read_partition,
    replace_partition,
    scan_partitions,
    stage_partition_file,
    vacuum_table,
)
from etl_orchestrator.lake.errors import LakeSchemaError
from tests.lake.parquet_meta import codecs_and_statistics

PIPELINE = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def day(offset: int) -> PartitionRef:
    return PartitionRef(org_id=1, pipeline_id=PIPELINE, date=date(2025, 1, 1) + timedelta(days=offset))


def rows(count: int, tag: str) -> pl.DataFrame:
    return pl.DataFrame({"tag": [tag] * count, "value": list(range(count))}, schema={"tag": pl.String, "value": pl.Int64})


def files_of(table: Path, partition: PartitionRef) -> list[str]:
    return [path for path in DeltaTable(str(table)).file_uris() if f"date={partition.date}" in path]


def test_replace_leaves_exactly_the_new_rows_of_the_partition(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(3, "first"))
    replace_partition(table, day(1), rows(2, "other day"))
    replace_partition(table, day(0), rows(5, "second"))

    again = read_partition(table, day(0))
    assert again is not None and again["tag"].unique().to_list() == ["second"] and again.height == 5
    assert partition_row_count(table, day(1)) == 2
    assert len(files_of(tmp_path / "t", day(0))) == 1


@pytest.mark.parametrize("whole_file_rows", [delta.WHOLE_FILE_ROWS, 0], ids=["read whole", "read in batches"])
def test_iter_partition_yields_every_row_once_in_bounded_batches_with_the_partition_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_file_rows: int) -> None:
    monkeypatch.setattr(delta, "WHOLE_FILE_ROWS", whole_file_rows)
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(10, "mine"))
    replace_partition(table, day(1), rows(4, "other day"))

    batches = list(iter_partition(table, day(0), batch_rows=4, columns=["value", "date", "tag"]))

    assert [batch.height for batch in batches] == [4, 4, 2]
    together = pl.concat(batches)
    assert together.columns == ["value", "date", "tag"]
    assert together["value"].to_list() == list(range(10))
    assert together["date"].unique().to_list() == [day(0).date] and together["tag"].unique().to_list() == ["mine"]


def test_replacing_with_no_rows_empties_the_partition(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(3, "x"))
    write = replace_partition(table, day(0), rows(0, "x"))
    assert write.files_removed == 1
    assert read_partition(table, day(0)) is None
    assert partition_row_count(table, day(0)) == 0


def test_without_an_empty_marker_a_partition_that_stays_empty_is_not_committed(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    assert commit_partition(stage_partition_file(table, day(0), rows(0, "x")), mark_empty=False).version == -1
    assert not (tmp_path / "t" / "_delta_log").exists()  # no table created for nothing
    replace_partition(table, day(1), rows(2, "kept"))
    version = DeltaTable(table).version()
    assert commit_partition(stage_partition_file(table, day(0), rows(0, "x")), mark_empty=False).version == version
    assert DeltaTable(table).version() == version and not partition_written(table, day(0))
    # Rows to remove are always committed: a partition emptied is not a partition left alone.
    replace_partition(table, day(0), rows(3, "x"))
    write = commit_partition(stage_partition_file(table, day(0), rows(0, "x")), mark_empty=False)
    assert write.files_removed == 1 and partition_row_count(table, day(0)) == 0
    assert partition_row_count(table, day(1)) == 2


def test_an_uncommitted_staged_file_is_invisible(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(3, "committed"))
    staged = stage_partition_file(table, day(0), rows(9, "staged"))
    frame = read_partition(table, day(0))
    assert frame is not None and frame["tag"].unique().to_list() == ["committed"]
    staged.discard()
    assert not (Path(table) / str(staged.relative_path)).exists()


@pytest.mark.parametrize("lazy", [False, True], ids=["frame", "lazy"])
def test_a_staged_file_has_the_asked_codec_and_no_column_statistics(tmp_path: Path, lazy: bool) -> None:
    table = str(tmp_path / "t")
    data = rows(5, "x").lazy() if lazy else rows(5, "x")
    default = stage_partition_file(table, day(0), data)
    plain = stage_partition_file(table, day(1), data, compression="uncompressed")
    assert codecs_and_statistics(Path(table) / str(default.relative_path)) == {("LZ4", False)}
    assert codecs_and_statistics(Path(table) / str(plain.relative_path)) == {("UNCOMPRESSED", False)}
    commit_partition(plain)
    frame = read_partition(table, day(1))
    assert frame is not None and frame["value"].to_list() == [0, 1, 2, 3, 4]


def test_four_threads_replacing_different_dates_of_one_table_all_land(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    errors: list[BaseException] = []

    def writer(thread: int) -> None:
        try:
            for step in range(12):
                offset = thread * 100 + step % 6  # each date written twice: replaced, never duplicated
                replace_partition(table, day(offset), rows(10, f"t{thread}-{step}"))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    everything = scan_partitions(table, org_id=1)
    assert everything is not None
    counts = everything.group_by("date").agg(pl.len(), pl.col("tag").n_unique()).collect()
    assert counts.height == 24
    assert counts["len"].to_list() == [10] * 24 and counts["tag"].to_list() == [1] * 24


_WRITER = """
import sys, polars as pl, uuid, datetime
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import replace_partition
table, tag = sys.argv[1], sys.argv[2]
partition = PartitionRef(org_id=1, pipeline_id=uuid.UUID(int=170), date=datetime.date(2025, 6, 1))
for step in range(8):
    replace_partition(table, partition, pl.DataFrame({"tag": [f"{tag}-{step}"] * 4, "value": [1, 2, 3, 4]}))
"""


def test_processes_racing_on_one_empty_partition_leave_one_copy(tmp_path: Path) -> None:
    """Without a shared lock, only the Delta txn conflict stops two writers of an empty partition."""
    table = str(tmp_path / "t")
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, table, f"p{index}"]) for index in range(3)]
    assert [writer.wait(120) for writer in writers] == [0, 0, 0]
    partition = PartitionRef(org_id=1, pipeline_id=uuid.UUID(int=170), date=date(2025, 6, 1))
    frame = read_partition(table, partition)
    assert frame is not None and frame.height == 4 and frame["tag"].n_unique() == 1


def test_the_files_a_process_keeps_after_its_own_commits_match_the_log(tmp_path: Path) -> None:
    """Our commits are applied to the process's list of live files in place; the log must agree."""
    table = str(tmp_path / "t")
    for round_ in range(3):
        for offset in range(4):
            replace_partition(table, day(offset), rows(offset + round_, f"r{round_}"))  # round 0 empties day 0
    replace_partition(table, day(9), rows(2, "new"))
    kept = delta._snapshots[table].live_files().sort("path")
    assert kept.equals(delta._files_frame(DeltaTable(table)).sort("path"))
    assert sorted(kept["num_records"].to_list()) == [2, 2, 3, 4, 5]
    assert partition_row_count(table, day(3)) == 5 and partition_row_count(table, day(0)) == 2
    # One chunk, however many commits were applied: every read and commit filters this frame.
    assert delta._snapshots[table].live_files().n_chunks() == 1


def test_a_failed_catch_up_after_a_commit_keeps_the_committed_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit stands: the file the log now names must not be deleted as if the write had failed."""
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(1, "before"))

    def log_unreadable(self: DeltaTable) -> None:
        raise DeltaError("log unreadable")

    monkeypatch.setattr(DeltaTable, "update_incremental", log_unreadable)
    delta._snapshots[table].fresh_until = float("inf")  # skip the catch-up before the commit
    replace_partition(table, day(0), rows(3, "after"))
    monkeypatch.undo()
    delta._snapshots.clear()
    frame = read_partition(table, day(0))
    assert frame is not None and frame["tag"].to_list() == ["after"] * 3


def test_another_process_commit_is_seen_once_our_own_commit_is_a_moment_old(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    partition = PartitionRef(org_id=1, pipeline_id=uuid.UUID(int=170), date=date(2025, 6, 1))
    replace_partition(table, partition, rows(2, "ours"))
    subprocess.run([sys.executable, "-c", _WRITER, table, "theirs"], check=True, timeout=120)
    time.sleep(delta.OWN_COMMIT_FRESH_S)
    frame = read_partition(table, partition)
    assert frame is not None and frame["tag"].to_list() == ["theirs-7"] * 4
    # Our next commit replaces their file, not the one we knew of.
    write = replace_partition(table, partition, rows(1, "ours again"))
    assert write.files_removed == 1 and len(DeltaTable(table).file_uris()) == 1


def test_a_new_column_extends_the_schema_and_old_partitions_read_it_as_null(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(2, "old"))
    replace_partition(table, day(1), rows(2, "new").with_columns(pl.lit("x").alias("added")))
    everything = scan_partitions(table, org_id=1)
    assert everything is not None
    frame = everything.sort("date").collect()
    assert frame["added"].to_list() == [None, None, "x", "x"]


def test_a_column_changing_type_is_a_schema_error(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    replace_partition(table, day(0), rows(2, "x"))
    with pytest.raises(LakeSchemaError, match="value"):
        replace_partition(table, day(1), rows(2, "x").with_columns(pl.col("value").cast(pl.String)))
    assert read_partition(table, day(1)) is None


def test_commits_stay_fast_as_partitions_accumulate_thanks_to_checkpoints(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    timings = []
    for offset in range(160):
        started = time.perf_counter()
        replace_partition(table, day(offset % 120), rows(3, str(offset)))
        timings.append(time.perf_counter() - started)
    log = Path(table) / "_delta_log"
    checkpoints = sorted(log.glob("*.checkpoint.parquet"))
    assert checkpoints, "delta-rs wrote no checkpoint"
    # A checkpoint every 10 versions (version 0 created the table): a commit replays at most 10 of log.
    assert [int(path.name.split(".")[0]) for path in checkpoints] == list(range(9, 160, 10))
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 159
    first, last = sorted(timings[10:40]), sorted(timings[-30:])
    # The median commit of the last 30 is not markedly slower than that of early ones.
    assert last[15] < max(3 * first[15], 0.05)
    assert vacuum_table(table, retention_hours=0)  # replaced files are deleted
