"""Silver: Bronze rows → the canonical typed schema, validated by the pipeline's quality rules,
deduplicated on the grain; rejected rows go to the quarantine table with their reasons.

For every partition ``records_in == records_out + quarantined + duplicates_removed`` (asserted here,
recorded in the execution by the activity). How one partition is processed:

1. *Parse*: the source mapping turns Bronze's string columns into canonical typed columns (and keeps
   the raw cleaned cells, so the ``type`` rule can tell "missing" from "does not parse").
2. *Judge* (pass 1): one vectorised pass computes a violation flag per row rule, a 128-bit hash of the
   grain, and the sums the totals checksum needs. From these compact columns: rule counts, the rows to
   quarantine, and the duplicates to remove (the latest ``_ingested_at``, then ``_row_number``, wins).
   A ``fail`` rule that fired raises ``DataError`` here, before anything is written.
3. *Write* (pass 2): the kept rows go to ``silver/campaign_daily``, the dropped ones (raw values as
   JSON, rules, reasons) to ``silver/quarantine``; each partition is replaced atomically.

Partitions up to ``IN_MEMORY_ROWS`` rows are parsed once and held in memory; larger ones are
re-scanned from Bronze in each pass with Polars' streaming engine, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

import polars as pl

from etl_orchestrator.domain.enums import RuleAction
from etl_orchestrator.domain.errors import ConflictError, DataError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.domain.schema import CANONICAL_COLUMNS, GRAIN, LINEAGE, METRICS
from etl_orchestrator.lake import (
    PARTITION_COLUMNS,
    Lake,
    LakeLike,
    StagedFile,
    commit_partition,
    file_batches,
    partition_row_count,
    partition_written,
    scan_partition,
    scan_partitions,
    stage_partition_file,
)
from etl_orchestrator.lake.paths import BRONZE_FORMATS
from etl_orchestrator.layers.mappings import (
    MONEY_METRICS,
    SILVER_SCHEMA,
    SourceMapping,
    mapping_for,
    parse_frame,
    profile_columns,
)
from etl_orchestrator.quality import engine
from etl_orchestrator.quality.engine import RowCheck
from etl_orchestrator.quality.report import QualityIssue
from etl_orchestrator.quality.rules import QualityRule

IN_MEMORY_ROWS = 2_000_000
# Silver's files are rewritten every run and read back at once by Gold, so they are written
# uncompressed: Silver of a 125,000-row day cost 410 ms of CPU against 443 with lz4 (one-off harness,
# six rounds), for files about 1.7× larger. Bronze, the raw archive, stays compressed.
SILVER_COMPRESSION = "uncompressed"
SILVER_COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS + LINEAGE
CONTENT_HASH_VERSION = "silver-v1"
_ROW = "_row_number"
_HASH_SEEDS = (0x5EED_0001, 0x5EED_0002)


@dataclass(frozen=True)
class SilverResult:
    """Counts, issues and the content hash of one partition's Silver (never the rows)."""

    table_uri: str
    source_format: str
    records_in: int  # Bronze rows of the partition
    records_out: int  # Silver rows now
    quarantined: int  # rows in quarantine now
    duplicates_removed: int
    issues: list[QualityIssue]
    content_hash: str  # stable over the canonical columns, independent of row order and lineage
    changed: bool  # content_hash differs from the previous_hash given
    delta_version: int = 0
    replayed: int = 0  # replay only: quarantined rows re-examined
    released: int = 0  # replay only: of those, rows that passed and moved to Silver

    def __post_init__(self) -> None:
        # The invariant of the medallion: nothing is lost, nothing counted twice.
        assert self.records_in == self.records_out + self.quarantined + self.duplicates_removed, self
        assert min(self.records_out, self.quarantined, self.duplicates_removed) >= 0, self


@dataclass(frozen=True)
class QuarantinedRow:
    """One row of the quarantine table, as ``list_quarantine`` returns it."""

    org_id: int
    pipeline_id: str
    date: date
    row_number: int
    source_format: str
    rules: list[str]
    reasons: list[str]
    raw: dict[str, Any]
    ingested_at: datetime
    source_file: str
    quarantined_by: str  # the execution that quarantined it
    quarantined_at: datetime


@dataclass(frozen=True)
class QuarantinePage:
    rows: list[QuarantinedRow]
    total: int
    limit: int
    offset: int


@dataclass
class _Parsed:
    """A partition's rows parsed to canonical columns (lazy: re-scanned per pass, or held in memory)."""

    frame: pl.LazyFrame
    checks: list[RowCheck]
    mapping: SourceMapping
    resolved: dict[str, str | None]
    decimal_comma: bool
    bronze_columns: list[str] = field(default_factory=list)
    in_memory: bool = False

    @property
    def engine(self) -> Literal["auto", "streaming"]:
        """Re-scans of Bronze run on the streaming engine, so a large partition never sits in memory."""
        return "auto" if self.in_memory else "streaming"


# ------------------------------------------------------------------------------------------- public


def bronze_to_silver(lake: LakeLike, partition: PartitionRef, *, execution_id: UUID | str,
                     rules: Sequence[QualityRule], totals: dict[str, str] | None = None,
                     trailing_row_counts: Sequence[int] = (), previous_hash: str | None = None,
                     source_format: str | None = None) -> SilverResult:
    """Rebuild the partition's Silver (and quarantine) from its Bronze rows.

    ``totals``: the DV360 totals row from ``BronzeResult.totals`` (checksum); ``trailing_row_counts``:
    Bronze row counts of the previous days (volume anomaly); ``source_format``: which Bronze table
    (found by looking when omitted). Raises ``DataError`` when a ``fail`` rule fires. Safe to run
    concurrently for different partitions.
    """
    lake = Lake.of(lake)
    source_format = source_format or _find_bronze_format(lake, partition)
    bronze = scan_partition(lake.bronze(source_format), partition)
    if bronze is None:
        return _write_empty(lake, partition, source_format, execution_id, previous_hash)
    in_memory = partition_row_count(lake.bronze(source_format), partition) <= IN_MEMORY_ROWS
    parsed = _parse(bronze, partition, source_format, rules, engine_name="auto" if in_memory else "streaming")
    if in_memory:
        parsed.frame = parsed.frame.collect().lazy()  # parse once; both passes reuse it
        parsed.in_memory = True
    # The rows as parsed, for the write pass: it needs none of the join's columns, and a join kept in
    # the plan would run again (a left join may add rows, so the optimizer cannot drop it).
    rows = parsed.frame
    parsed.frame = _with_main_currency(parsed.frame)
    flags = [check.flag for check in parsed.checks]

    # Pass 1: judge every row from compact columns.
    judged, sums, latest_ingestion = _judge(parsed)
    records_in = judged.height
    counts = judged.select(pl.col(flags).sum()).row(0, named=True) if flags else {}
    dropped, losers = _outcome(judged, parsed)
    issues = engine.row_issues(parsed.checks, counts, records_in)
    duplicate = engine.duplicate_issue(rules, losers.len())
    issues += [duplicate] if duplicate else []
    issues += engine.volume_issues(rules, records_in, trailing_row_counts)
    issues += engine.freshness_issues(rules, partition.date, latest_ingestion)
    issues += engine.totals_issues(rules, _parse_totals(totals, parsed), sums)
    _raise_on_fail(issues, partition, records_in)

    # Pass 2: write Silver and the quarantine.
    excluded = pl.concat([dropped[_ROW], losers])
    silver_rows: pl.LazyFrame | pl.DataFrame = (rows.filter(~pl.col(_ROW).is_in(excluded.implode()))
                                                .select(SILVER_COLUMNS))
    if in_memory:
        silver_rows = silver_rows.collect()  # written from memory and hashed there, not read back
    quarantine_rows = _quarantine_frame(bronze, parsed, dropped, source_format, execution_id) \
        if dropped.height else None
    return _publish(lake, partition, source_format, execution_id, silver_rows, quarantine_rows, records_in,
                    duplicates=losers.len(), issues=issues, previous_hash=previous_hash)


def replay_quarantine(lake: LakeLike, partition: PartitionRef, *, execution_id: UUID | str,
                      rules: Sequence[QualityRule], previous_hash: str | None = None) -> SilverResult:
    """Re-judge the partition's quarantined rows with ``rules`` (and today's mappings).

    Rows that now pass join Silver (deduplicated again, latest ingestion wins) and leave the
    quarantine; the rest stay, with the rules they break now. Counts cover the whole partition, so
    the invariant holds for it. Raises ``ConflictError`` when Bronze was re-landed after Silver ran
    (run Silver first), ``DataError`` when a ``fail`` rule fires.
    """
    lake = Lake.of(lake)
    quarantine = scan_partition(lake.quarantine, partition)
    held = quarantine.collect() if quarantine is not None else None
    silver = scan_partition(lake.silver, partition)
    current = silver.select(SILVER_COLUMNS).collect() if silver is not None else None
    if held is None or held.is_empty():
        source_format = _find_bronze_format(lake, partition)
        return _replay_result(lake, partition, source_format, current, None, 0, 0, [], previous_hash,
                              delta_version=0)
    source_format = held["source_format"][0]
    # The raw values as Bronze columns again (the union of every held row's columns: headers may drift).
    values = pl.read_ndjson(io.BytesIO("\n".join(held["raw"]).encode()), infer_schema_length=None)
    raw = pl.concat([values.select(pl.all().cast(pl.String)),
                     held.select("_row_number", "_ingested_at", "_execution_id", "_source_file")], how="horizontal")
    parsed = _parse(raw.lazy(), partition, source_format, rules)
    parsed.in_memory = True
    context = parsed.frame if current is None else pl.concat(
        [current.lazy().select("advertiser_id", "currency"),
         parsed.frame.select("advertiser_id", "currency")], how="vertical_relaxed")
    parsed.frame = _with_main_currency(parsed.frame, context=context)
    judged, _, _ = _judge(parsed)
    counts = judged.select(pl.col([check.flag for check in parsed.checks]).sum()).row(0, named=True)
    dropped, _ = _outcome(judged, parsed, dedupe=False)
    issues = engine.row_issues(parsed.checks, counts, judged.height)
    _raise_on_fail(issues, partition, judged.height)

    released = parsed.frame.filter(~pl.col(_ROW).is_in(dropped[_ROW].implode())).select(SILVER_COLUMNS).collect()
    merged = released if current is None else pl.concat([current, released], how="vertical_relaxed")
    # A row already in Silver (a replay that crashed between its two commits) is the same row, not a duplicate.
    merged = merged.unique(subset=["_ingested_at", _ROW], keep="first", maintain_order=True)
    before = merged.height
    merged = merged.sort("_ingested_at", _ROW).filter(pl.struct(GRAIN).is_last_distinct())
    duplicates = engine.duplicate_issue(rules, before - merged.height)
    issues += [duplicates] if duplicates else []
    _raise_on_fail(issues, partition, judged.height)

    still_held = _quarantine_frame(raw.lazy(), parsed, dropped, source_format, execution_id)
    staged = stage_partition_file(lake.silver, partition, merged, compression=SILVER_COMPRESSION)
    silver_write = commit_partition(staged, metadata={"layer": "silver", "execution_id": str(execution_id),
                                                      "replay": True})
    commit_partition(stage_partition_file(lake.quarantine, partition, still_held),
                     metadata={"layer": "quarantine", "execution_id": str(execution_id), "replay": True})
    return _replay_result(lake, partition, source_format, merged, still_held.collect(), held.height,
                          released.height, issues, previous_hash, delta_version=silver_write.version)


def list_quarantine(lake: LakeLike, *, org_id: int, pipeline_id: UUID | str | None = None,
                    date_from: date | None = None, date_to: date | None = None, limit: int = 100,
                    offset: int = 0) -> QuarantinePage:
    """Quarantined rows of an organization, newest partition first, then file order."""
    lake = Lake.of(lake)
    scan = scan_partitions(lake.quarantine, org_id=org_id, pipeline_id=pipeline_id, date_from=date_from,
                           date_to=date_to)
    if scan is None:
        return QuarantinePage(rows=[], total=0, limit=limit, offset=offset)
    total = scan.select(pl.len()).collect().item()
    page = (scan.sort(["date", "pipeline_id", _ROW], descending=[True, False, False])
            .slice(offset, limit).collect())
    rows = [QuarantinedRow(
        org_id=row["org_id"], pipeline_id=row["pipeline_id"], date=row["date"], row_number=row[_ROW],
        source_format=row["source_format"], rules=list(row["rules"]), reasons=list(row["reasons"]),
        raw=_json_object(row["raw"]), ingested_at=row["_ingested_at"], source_file=row["_source_file"],
        quarantined_by=row["quarantined_by"], quarantined_at=row["quarantined_at"],
    ) for row in page.iter_rows(named=True)]
    return QuarantinePage(rows=rows, total=int(total), limit=limit, offset=offset)


def content_hash(batches: pl.DataFrame | Iterable[pl.DataFrame]) -> str:
    """A hash of the canonical columns that ignores row order and lineage.

    Each row is hashed twice (two seeds); the 32-bit halves of the row hashes are summed (no overflow
    below 2^32 rows), which makes a multiset hash, so batches may come in any order and size. Stable
    for a given Polars version; a new version may change it, which only costs one unnecessary Gold reload.
    """
    rows, sums = 0, [0, 0, 0, 0]
    for batch in [batches] if isinstance(batches, pl.DataFrame) else batches:
        batch = batch.select(CANONICAL_COLUMNS)
        rows += batch.height
        for index, seed in enumerate(_HASH_SEEDS):
            hashes = batch.hash_rows(seed=seed)
            sums[2 * index] += int((hashes % 2**32).sum())
            sums[2 * index + 1] += int((hashes // 2**32).sum())
    return hashlib.sha256(f"{CONTENT_HASH_VERSION}|{rows}|{'|'.join(map(str, sums))}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------ parsing


def _find_bronze_format(lake: Lake, partition: PartitionRef) -> str:
    """The Bronze table holding the partition (the most recently ingested one, if several do)."""
    found = []
    for source_format in BRONZE_FORMATS:
        if not partition_written(lake.bronze(source_format), partition):
            continue
        scan = scan_partition(lake.bronze(source_format), partition)
        latest = scan.select(pl.col("_ingested_at").max()).collect().item() if scan is not None else None
        found.append((latest, source_format))
    if not found:
        raise DataError("no Bronze partition to build Silver from", partition=partition.key)
    return max(found, key=lambda item: (item[0] is not None, item[0]))[1]


def _data_columns(names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in LINEAGE and name not in PARTITION_COLUMNS]


def _parse(bronze: pl.LazyFrame, partition: PartitionRef, source_format: str,
           rules: Sequence[QualityRule], *, engine_name: Literal["auto", "streaming"] = "auto") -> _Parsed:
    mapping = mapping_for(source_format)
    columns = _data_columns(bronze.collect_schema().names())
    resolved = mapping.resolve(columns)
    profiles = profile_columns(bronze, resolved, engine=engine_name)
    # One locale per file: a money column that can only be read with decimal commas decides.
    decimal_comma = any(profiles[resolved[field]].comma_decimals for field in MONEY_METRICS if resolved[field])
    frame = parse_frame(bronze, resolved, mapping, partition_date=partition.date, decimal_comma=decimal_comma,
                        keep=(_ROW, "_ingested_at", "_execution_id", "_source_file"), keep_text=("date", *METRICS),
                        profiles=profiles)
    return _Parsed(frame=frame, checks=engine.row_checks(rules, partition.date), mapping=mapping,
                   resolved=resolved, decimal_comma=decimal_comma, bronze_columns=columns)


def _with_main_currency(frame: pl.LazyFrame, *, context: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Attach each row's advertiser's main currency (for the currency consistency rule).

    A join with the small advertiser table (not ``replace_strict``, which the streaming engine
    cannot run without holding the whole column).
    """
    main = engine.main_currency_by_advertiser(frame if context is None else context).collect(engine="streaming")
    return frame.join(main.lazy(), on="advertiser_id", how="left", nulls_equal=False)


# ------------------------------------------------------------------------------------------- judging


def _judge(parsed: _Parsed) -> tuple[pl.DataFrame, dict[str, float], date | None]:
    """Pass 1: per row its flags and a 64-bit grain hash; plus the metric sums and the latest ingestion day."""
    configured = [check for check in parsed.checks if not check.builtin]
    builtin = [check for check in parsed.checks if check.builtin]
    flagged = (parsed.frame
               .with_columns(check.violation.fill_null(False).alias(check.flag) for check in configured)
               .with_columns(check.violation.fill_null(False).alias(check.flag) for check in builtin))
    judged_lazy = flagged.select(_ROW, "_ingested_at", *[check.flag for check in parsed.checks],
                                 pl.struct(GRAIN).hash(seed=_HASH_SEEDS[0]).alias("__grain"))
    sums_lazy = parsed.frame.select(
        *[pl.col(metric).cast(pl.Float64).fill_null(0).sum().alias(metric) for metric in METRICS],
        pl.col("_ingested_at").max().alias("_latest"))
    if parsed.in_memory:
        judged, sums = pl.collect_all([judged_lazy, sums_lazy])
    else:
        # Separately: collect_all would cache the shared parsed frame, i.e. hold the whole partition.
        judged, sums = judged_lazy.collect(engine="streaming"), sums_lazy.collect(engine="streaming")
    values = sums.row(0, named=True)
    latest = values.pop("_latest")
    return judged, values, (latest.date() if latest is not None else None)


def _outcome(judged: pl.DataFrame, parsed: _Parsed, *, dedupe: bool = True) -> tuple[pl.DataFrame, pl.Series]:
    """The dropped rows (row number + rules broken) and the row numbers of duplicates to remove."""
    drop_checks = [check for check in parsed.checks if check.action == RuleAction.DROP]
    dropped_mask = pl.any_horizontal(pl.col(check.flag) for check in drop_checks) if drop_checks else pl.lit(False)
    rules_broken = pl.concat_list([pl.when(pl.col(check.flag)).then(pl.lit(check.rule)) for check in drop_checks]
                                  ).list.drop_nulls() if drop_checks else pl.lit([], pl.List(pl.String))
    dropped = judged.filter(dropped_mask).select(_ROW, rules_broken.alias("rules"))
    no_losers = pl.Series(_ROW, [], pl.Int64)
    if not dedupe:
        return dropped, no_losers
    # The hash finds candidate duplicates cheaply; their real grain values decide (no false merges).
    # Sorting the hashes needs less memory than a hash table of ten million of them.
    grain = pl.col("__grain")
    kept = judged.lazy().filter(~dropped_mask).select(_ROW, grain).sort(grain)
    candidates = kept.filter((grain == grain.shift(1)) | (grain == grain.shift(-1))).collect()[_ROW]
    if candidates.is_empty():
        return dropped, no_losers
    rows = (parsed.frame.filter(pl.col(_ROW).is_in(candidates.implode())).select(_ROW, "_ingested_at", *GRAIN)
            .collect(engine=parsed.engine).sort("_ingested_at", _ROW))
    # Among kept rows the latest ingestion (then the later row) of each grain wins.
    return dropped, rows.filter(~pl.struct(GRAIN).is_last_distinct())[_ROW]


def _parse_totals(totals: dict[str, str] | None, parsed: _Parsed) -> dict[str, float | None]:
    """The totals row's cells (keyed by Bronze column) parsed like data cells, per canonical metric."""
    if not totals:
        return {}
    cells = {field: totals.get(column) for field, column in parsed.resolved.items()
             if field in METRICS and column}
    row = pl.DataFrame({field: [value] for field, value in cells.items()}, schema={f: pl.String for f in cells})
    typed = parse_frame(row, {field: field if field in cells else None for field in CANONICAL_COLUMNS},
                        parsed.mapping, partition_date=date.today(), decimal_comma=parsed.decimal_comma)
    return typed.select(pl.col(field).cast(pl.Float64) for field in cells).collect().row(0, named=True)


def _raise_on_fail(issues: Sequence[QualityIssue], partition: PartitionRef, rows: int) -> None:
    failed = [issue for issue in issues if issue.action == RuleAction.FAIL.value]
    if failed:
        summary = "; ".join(issue.describe() for issue in failed)
        raise DataError(f"quality rule(s) failed: {summary}", partition=partition.key, rows=rows,
                        rules=",".join(issue.rule for issue in failed))


# ------------------------------------------------------------------------------------------- writing


def _quarantine_frame(bronze: pl.LazyFrame, parsed: _Parsed, dropped: pl.DataFrame, source_format: str,
                      execution_id: UUID | str) -> pl.LazyFrame:
    """Dropped rows with their raw Bronze values (JSON), the rules they broke and why."""
    rows = dropped[_ROW].implode()
    raw = (bronze.filter(pl.col(_ROW).is_in(rows))
           .select(_ROW, pl.struct(parsed.bronze_columns).struct.json_encode().alias("raw")))
    drop_checks = [check for check in parsed.checks if check.action == RuleAction.DROP]
    reasons = (pl.concat_list([pl.when(pl.col(check.flag)).then(pl.format(f"{check.rule}: {{}}", check.reason))
                               for check in drop_checks]).list.drop_nulls()
               if drop_checks else pl.lit([], pl.List(pl.String)))
    configured = [check for check in parsed.checks if not check.builtin]
    explained = (parsed.frame.filter(pl.col(_ROW).is_in(rows))
                 .with_columns(check.violation.fill_null(False).alias(check.flag) for check in configured)
                 .with_columns(check.violation.fill_null(False).alias(check.flag)
                               for check in parsed.checks if check.builtin)
                 .select(_ROW, "_ingested_at", "_execution_id", "_source_file", reasons.alias("reasons")))
    return (explained.join(dropped.lazy(), on=_ROW, how="inner").join(raw, on=_ROW, how="inner")
            .select(_ROW, "_ingested_at", "_execution_id", "_source_file",
                    pl.lit(source_format).alias("source_format"),
                    pl.col("rules").cast(pl.List(pl.String)), pl.col("reasons").cast(pl.List(pl.String)),
                    pl.col("raw"),
                    pl.lit(str(execution_id)).alias("quarantined_by"),
                    pl.lit(datetime.now(UTC), pl.Datetime("us", "UTC")).alias("quarantined_at"))
            .sort(_ROW))


def _publish(lake: Lake, partition: PartitionRef, source_format: str, execution_id: UUID | str,
             silver_rows: pl.LazyFrame | pl.DataFrame, quarantine_rows: pl.LazyFrame | None, records_in: int, *,
             duplicates: int, issues: list[QualityIssue], previous_hash: str | None) -> SilverResult:
    """Stage Silver and the quarantine, hash Silver, then commit both.

    Rows given as a DataFrame (a partition held in memory) are hashed as they are; a LazyFrame's are
    streamed to disk and hashed from the staged file in batches. Either way the hash sees what the
    file holds: the canonical columns, with the partition's date. ``quarantine_rows`` None: no row
    was dropped, and nothing is staged for the quarantine.
    """
    metadata = {"execution_id": str(execution_id), "source_format": source_format}
    silver_file = stage_partition_file(lake.silver, partition, silver_rows, compression=SILVER_COMPRESSION)
    try:
        quarantine_file = StagedFile(lake.quarantine, partition, None, 0, 0, QUARANTINE_SCHEMA) \
            if quarantine_rows is None else stage_partition_file(lake.quarantine, partition, quarantine_rows)
        digest = content_hash(_with_date(silver_rows, partition) if isinstance(silver_rows, pl.DataFrame)
                              else _staged_batches(silver_file, partition))
    except BaseException:
        silver_file.discard()
        raise
    # Silver first: should the process die between the two commits, a row may sit in both tables
    # (a re-run settles it), never in neither.
    write = commit_partition(silver_file, metadata={"layer": "silver", **metadata})
    commit_partition(quarantine_file, metadata={"layer": "quarantine", **metadata}, mark_empty=False)
    return SilverResult(
        table_uri=lake.silver, source_format=source_format, records_in=records_in, records_out=silver_file.rows,
        quarantined=quarantine_file.rows, duplicates_removed=duplicates, issues=issues, content_hash=digest,
        changed=digest != previous_hash, delta_version=write.version)


def _staged_batches(staged: StagedFile, partition: PartitionRef) -> Iterator[pl.DataFrame]:
    """The rows of a staged (not yet committed) Silver file in bounded batches, with the partition's date."""
    if staged.relative_path is None:
        return
    for frame in file_batches(f"{staged.table_uri}/{staged.relative_path}", 100_000, records=staged.rows):
        yield _with_date(frame, partition)


def _with_date(frame: pl.DataFrame, partition: PartitionRef) -> pl.DataFrame:
    """``frame`` with the partition's date, as a staged file's rows get it (the file does not store it)."""
    return frame.with_columns(pl.lit(partition.date, pl.Date).alias("date"))


def _write_empty(lake: Lake, partition: PartitionRef, source_format: str, execution_id: UUID | str,
                 previous_hash: str | None) -> SilverResult:
    empty_silver = pl.DataFrame(schema={**SILVER_SCHEMA, "_ingested_at": pl.Datetime("us", "UTC"),
                                        "_execution_id": pl.String, "_source_file": pl.String, _ROW: pl.Int64})
    return _publish(lake, partition, source_format, execution_id, empty_silver.lazy(),
                    None, 0, duplicates=0, issues=[], previous_hash=previous_hash)


QUARANTINE_SCHEMA = pl.Schema({
    _ROW: pl.Int64, "_ingested_at": pl.Datetime("us", "UTC"), "_execution_id": pl.String, "_source_file": pl.String,
    "source_format": pl.String, "rules": pl.List(pl.String), "reasons": pl.List(pl.String), "raw": pl.String,
    "quarantined_by": pl.String, "quarantined_at": pl.Datetime("us", "UTC")})


def _replay_result(lake: Lake, partition: PartitionRef, source_format: str, silver: pl.DataFrame | None,
                   quarantine: pl.DataFrame | None, replayed: int, released: int, issues: list[QualityIssue],
                   previous_hash: str | None, *, delta_version: int) -> SilverResult:
    """Counts of the whole partition after a replay, checked against Bronze's row identities."""
    bronze = scan_partition(lake.bronze(source_format), partition)
    bronze_ids = (bronze.select("_ingested_at", _ROW).collect() if bronze is not None
                  else pl.DataFrame(schema={"_ingested_at": pl.Datetime("us", "UTC"), _ROW: pl.Int64}))
    identities = [frame.select("_ingested_at", _ROW) for frame in (silver, quarantine) if frame is not None]
    held = pl.concat(identities) if identities else bronze_ids.clear()
    unknown = held.join(bronze_ids, on=["_ingested_at", _ROW], how="anti").height
    if unknown or held.is_duplicated().any():
        raise ConflictError("Silver and quarantine no longer match Bronze (re-landed?): run Silver first",
                            partition=partition.key, rows_not_in_bronze=unknown)
    records_out = silver.height if silver is not None else 0
    quarantined = quarantine.height if quarantine is not None else 0
    digest = content_hash(silver if silver is not None else pl.DataFrame(schema=SILVER_SCHEMA))
    return SilverResult(
        table_uri=lake.silver, source_format=source_format, records_in=bronze_ids.height, records_out=records_out,
        quarantined=quarantined, duplicates_removed=bronze_ids.height - records_out - quarantined, issues=issues,
        content_hash=digest, changed=digest != previous_hash, delta_version=delta_version, replayed=replayed,
        released=released)


def _json_object(raw: str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}

