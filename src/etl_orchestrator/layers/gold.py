"""Gold: the business tables in PostgreSQL (schema ``gold``), built from Silver.

- ``load_campaign_daily`` replaces one partition's rows of ``gold.campaign_daily`` in ONE transaction:
  a per-partition advisory lock (two loads of the same partition queue up instead of interleaving),
  DELETE of the (pipeline, date) through the table's BRIN index, then a binary COPY streamed from
  Silver in batches; after the commit a background thread summarises the new BRIN ranges. Readers
  see the old partition until the commit, then the new one; a crash rolls the whole load back. Ratios
  (ctr, cpm, cpc, cpa, roas) are computed on the way and are NULL where the denominator is 0.
- ``load_budgets`` upserts insertion orders' budget segments into ``gold.budget_segments``.
- ``load_campaign_daily`` also replaces the partition's totals per insertion order, day and currency in
  ``gold.insertion_order_daily``, in the same transaction: pacing reads those, never the line items.
- ``recompute_pacing`` sums those totals per budget segment (one currency per IO, rows in another
  currency are excluded and counted) and applies ``layers/pacing.py`` per budget segment.

Why one connection: parallel COPY over two connections would need both commits to become visible
at once, which PostgreSQL only offers with two-phase commit (off by default) and even then not for
readers in between; a half-visible partition is not acceptable, so the load stays one transaction
and is made cheap instead: binary COPY, no unique index to maintain, and the client's share (reading
Silver, encoding the COPY payload) done in a thread that starts before the DELETE, so it overlaps the
server's DELETE and ingest instead of alternating with them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import polars as pl
import psycopg

from etl_orchestrator.domain.budgets import InsertionOrder
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake, LakeLike, iter_partition, partition_row_count
from etl_orchestrator.layers import pacing
from etl_orchestrator.layers.pg import connect
from etl_orchestrator.layers.pgcopy import HEADER, TRAILER, PgColumn, encode_rows

logger = logging.getLogger(__name__)

# Small enough that the server has its first batch soon after the DELETE; per row, encoding costs
# more below ~8k rows (a call's fixed cost) and above ~32k (the encoder's buffer grows by copying
# into fresh memory: 125,000 rows in one batch took 130 ms against 55 in 32k ones). Loading
# 125,000-row days (one-off harness, 16 days, two rounds) cost 512–515 ms of client plus server CPU
# per day at 16,384 rows, 519–531 at 32,768, 533–537 at 8,192.
COPY_BATCH_ROWS = 16_384
# Up to this many rows (one batch) Silver is encoded before the COPY, without the reader thread.
INLINE_MAX_ROWS = COPY_BATCH_ROWS
# Encoded batches the reader thread may hold ahead of the COPY (each ~8 MB at 16k rows): memory stays bounded.
PREFETCH_BATCHES = 3
RATIOS: dict[str, pl.Expr] = {
    "ctr": pl.col("clicks").cast(pl.Float64) / pl.col("impressions"),
    "cpm": pl.col("spend").cast(pl.Float64) / pl.col("impressions") * 1000,
    "cpc": pl.col("spend").cast(pl.Float64) / pl.col("clicks"),
    "cpa": pl.col("spend").cast(pl.Float64) / pl.col("conversions"),
    "roas": pl.col("revenue").cast(pl.Float64) / pl.col("spend").cast(pl.Float64),
}
_DENOMINATORS = {"ctr": "impressions", "cpm": "impressions", "cpc": "clicks", "cpa": "conversions", "roas": "spend"}

COLUMNS: list[PgColumn] = [
    PgColumn("source", "text"),
    PgColumn("advertiser_id", "text"), PgColumn("advertiser_name", "text"),
    PgColumn("campaign_id", "text"), PgColumn("campaign_name", "text"),
    PgColumn("insertion_order_id", "text"), PgColumn("insertion_order_name", "text"),
    PgColumn("line_item_id", "text"), PgColumn("line_item_name", "text"),
    PgColumn("currency", "text"),
    PgColumn("impressions", "int8"), PgColumn("billable_impressions", "int8"), PgColumn("clicks", "int8"),
    PgColumn("conversions", "float8"), PgColumn("spend", "numeric6"), PgColumn("revenue", "numeric6"),
    *[PgColumn(name, "float8") for name in RATIOS],
]
IO_DAILY_COLUMNS: list[PgColumn] = [
    PgColumn("insertion_order_id", "text"), PgColumn("currency", "text"), PgColumn("spend", "numeric6"),
    PgColumn("impressions", "int8"), PgColumn("rows", "int4"),
]
CONSTANT_COLUMNS = ("org_id", "pipeline_id", "date", "execution_id")
BRIN_INDEX = "gold.brin_campaign_daily_org_pipeline_date"


@dataclass(frozen=True)
class GoldResult:
    rows: int  # rows of the partition now in gold.campaign_daily
    deleted: int  # rows the replace removed (the previous load of the partition)
    tables_updated: list[str]
    duration_ms: int


def gold_rows(silver: pl.DataFrame) -> pl.DataFrame:
    """Silver rows with the derived ratios: NULL, never 0 or infinity, when the denominator is 0 or NULL."""
    ratios = [pl.when(pl.col(_DENOMINATORS[name]).cast(pl.Float64) != 0).then(expr).alias(name)
              for name, expr in RATIOS.items()]
    return silver.select(*[column.name for column in COLUMNS if column.name not in RATIOS], *ratios)


def load_campaign_daily(conninfo: str, lake: LakeLike, partition: PartitionRef, *,
                        execution_id: UUID | str) -> GoldResult:
    """Replace the partition's rows of ``gold.campaign_daily`` with its Silver rows, atomically.

    Safe to run concurrently in threads, for different partitions (and for the same one: the
    second waits for the first). Raises ``DataError`` for rows PostgreSQL rejects, a transient
    ``GoldDatabaseError`` when the connection fails.
    """
    started = time.monotonic()
    lake = Lake.of(lake)
    constants = [("int4", partition.org_id), ("uuid", partition.pipeline_id), ("date", partition.date),
                 ("uuid", execution_id)]
    column_list = ", ".join([*CONSTANT_COLUMNS, *(column.name for column in COLUMNS)])
    per_io: list[pl.DataFrame] = []
    io_daily: list[memoryview] = []  # the per-IO totals' COPY payload, once every batch is read
    rows = 0

    def encoded() -> Iterator[bytes | memoryview]:
        nonlocal rows
        for batch in iter_partition(lake.silver, partition, batch_rows=COPY_BATCH_ROWS, columns=SILVER_INPUT):
            per_io.append(_io_totals(batch))
            rows += batch.height
            yield encode_rows(gold_rows(batch), COLUMNS, constants)
        # While the server still ingests the last batches.
        io_daily.append(_io_daily_payload(partition, per_io))

    with connect(conninfo, "loading gold.campaign_daily", partition=partition.key) as connection:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                               (f"gold.campaign_daily:{partition.pipeline_id}:{partition.date}",))
            # Silver is read once the lock is held (a queued load reads the Silver of its turn), but
            # before the DELETE: its first batches are ready when the COPY starts. A partition of one
            # batch is encoded right here: a thread to overlap one batch costs more than it saves.
            small = partition_row_count(lake.silver, partition) <= INLINE_MAX_ROWS
            with (_now(encoded) if small else _ahead(encoded, PREFETCH_BATCHES)) as payloads:
                # campaign_daily's only index is BRIN, which the planner may skip before ANALYZE has run;
                # a sequential scan of a year of rows per partition would be far worse.
                connection.execute("SET LOCAL enable_seqscan = off")
                deleted = connection.execute(
                    "DELETE FROM gold.campaign_daily WHERE pipeline_id = %s AND date = %s",
                    (partition.pipeline_id, partition.date)).rowcount
                connection.execute("DELETE FROM gold.insertion_order_daily WHERE pipeline_id = %s AND date = %s",
                                   (partition.pipeline_id, partition.date))
                cursor = connection.cursor()
                with cursor.copy(f"COPY gold.campaign_daily ({column_list}) FROM STDIN (FORMAT binary)") as copy:
                    copy.write(HEADER)
                    for payload in payloads:
                        copy.write(payload)
                    copy.write(TRAILER)
            _copy_io_daily(cursor, io_daily[0])
    _summariser.request(conninfo)
    return GoldResult(rows=rows, deleted=max(deleted, 0), tables_updated=["campaign_daily"],
                      duration_ms=int((time.monotonic() - started) * 1000))


# The Silver columns Gold reads (lineage columns are not loaded).
SILVER_INPUT = [column.name for column in COLUMNS if column.name not in RATIOS]
_END = object()


@contextlib.contextmanager
def _now(produce: Callable[[], Iterator[bytes | memoryview]]) -> Iterator[Iterator[bytes | memoryview]]:
    """``_ahead``'s counterpart for a small partition: everything produced before the block runs."""
    yield iter(list(produce()))


@contextlib.contextmanager
def _ahead(produce: Callable[[], Iterator[bytes | memoryview]], depth: int) -> Iterator[Iterator[bytes | memoryview]]:
    """Run ``produce`` in a thread, at most ``depth`` items ahead of the consumer.

    The producer's exception is raised where the consumer reaches it (so a bad Silver file fails the
    COPY, as before); leaving early (the COPY failed) stops the producer at its next item.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)

    def consume() -> Iterator[bytes | memoryview]:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=run, name="gold-copy-encoder", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


def _io_totals(batch: pl.DataFrame) -> pl.DataFrame:
    """Spend, impressions and rows per insertion order and currency of one batch of the partition."""
    return (batch.group_by("insertion_order_id", "currency")
            .agg(pl.col("spend").sum(), pl.col("impressions").sum(), pl.len().alias("rows")))


def _io_daily_payload(partition: PartitionRef, per_io: list[pl.DataFrame]) -> memoryview:
    """The binary COPY rows of ``gold.insertion_order_daily`` for the partition (empty: no rows)."""
    if not per_io:
        return memoryview(b"")
    totals = (pl.concat(per_io).group_by("insertion_order_id", "currency")
              .agg(pl.col("spend").sum().fill_null(0), pl.col("impressions").sum().fill_null(0),
                   pl.col("rows").sum()))
    constants = [("int4", partition.org_id), ("uuid", partition.pipeline_id), ("date", partition.date)]
    return encode_rows(totals, IO_DAILY_COLUMNS, constants)


def _copy_io_daily(cursor: psycopg.Cursor, payload: memoryview) -> None:
    """Write the partition's rows of ``gold.insertion_order_daily`` (pacing's input; the load deleted the old ones)."""
    if not payload:
        return
    # Binary COPY, like the line items: a day has thousands of insertion orders, and a Python
    # write_row per IO cost more than the whole line-item encoding.
    with cursor.copy("COPY gold.insertion_order_daily (org_id, pipeline_id, date, insertion_order_id, currency,"
                     " spend, impressions, rows) FROM STDIN (FORMAT binary)") as copy:
        copy.write(HEADER)
        copy.write(payload)
        copy.write(TRAILER)


class _BrinSummariser:
    """Summarises campaign_daily's new BRIN block ranges after loads commit, in a background thread.

    Until a range is summarised BRIN scans treat it as matching everything, so every later
    partition's DELETE would read it (autovacuum summarises too, but only a minute later). The load
    is committed before this runs, so it is off the load's critical path; requests arriving while
    one runs are coalesced into one more pass, which covers every range written until then.
    A failure (the role may not maintain the table, the server went away) is logged: autovacuum
    still summarises the ranges.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._running = False

    def request(self, conninfo: str) -> None:
        with self._lock:
            self._pending.add(conninfo)
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="gold-brin-summariser", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                conninfo = self._pending.pop()
            summarise_new_ranges(conninfo)


def summarise_new_ranges(conninfo: str) -> None:
    """Summarise the unsummarised BRIN ranges of ``gold.campaign_daily`` now; failures are logged, not raised."""
    # A connection of its own, closed at once: the summariser's thread ends when its queue is empty,
    # so a per-thread connection (``connect``) would be left for the garbage collector.
    try:
        with psycopg.connect(conninfo, connect_timeout=10, autocommit=True) as connection:
            connection.execute("SELECT brin_summarize_new_values(%s::regclass)", (BRIN_INDEX,))
    except (psycopg.OperationalError, OSError) as exc:  # the server went away or is shutting down
        logger.info("did not summarise %s (autovacuum will): %s", BRIN_INDEX, exc)
    except psycopg.Error as exc:
        logger.warning("could not summarise %s (autovacuum will): %s", BRIN_INDEX, exc)


_summariser = _BrinSummariser()


def latest_gold_date(conninfo: str, *, pipeline_id: UUID | str) -> date | None:
    """The newest date the pipeline has in Gold (the pacing ``as_of``), None if none.

    Read from the per-IO totals, whose (pipeline_id, date) b-tree answers max() at once; the
    line-item table's BRIN index cannot.
    """
    with connect(conninfo, "reading gold.insertion_order_daily", pipeline=str(pipeline_id)) as connection:
        row = connection.execute("SELECT max(date) FROM gold.insertion_order_daily WHERE pipeline_id = %s",
                                 (pipeline_id,)).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------------------------------------ budgets

_UPSERT_SEGMENT = """
INSERT INTO gold.budget_segments (org_id, pipeline_id, advertiser_id, insertion_order_id, segment_index,
    insertion_order_name, currency, budget_unit, budget_amount, start_date, end_date, pacing_period,
    pacing_type, daily_max, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (pipeline_id, insertion_order_id, segment_index) DO UPDATE SET
    org_id = EXCLUDED.org_id, advertiser_id = EXCLUDED.advertiser_id,
    insertion_order_name = EXCLUDED.insertion_order_name, currency = EXCLUDED.currency,
    budget_unit = EXCLUDED.budget_unit, budget_amount = EXCLUDED.budget_amount,
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, pacing_period = EXCLUDED.pacing_period,
    pacing_type = EXCLUDED.pacing_type, daily_max = EXCLUDED.daily_max, updated_at = now()
"""


def load_budgets(conninfo: str, *, org_id: int, pipeline_id: UUID, insertion_orders: Sequence[InsertionOrder]) -> int:
    """Upsert the insertion orders' budget segments, dropping segments an IO no longer has.

    Returns the number of segments written.
    """
    rows = [(org_id, pipeline_id, io.advertiser_id, io.insertion_order_id, index, io.display_name, io.currency,
             io.budget_unit, segment.amount, segment.start_date, segment.end_date, io.pacing_period,
             io.pacing_type, io.daily_max)
            for io in insertion_orders for index, segment in enumerate(io.segments)]
    with connect(conninfo, "loading gold.budget_segments", pipeline=str(pipeline_id)) as connection:
        with connection.transaction(), connection.cursor() as cursor:
            if rows:
                cursor.executemany(_UPSERT_SEGMENT, rows)
            for io in insertion_orders:
                cursor.execute("DELETE FROM gold.budget_segments WHERE pipeline_id = %s AND insertion_order_id = %s"
                               " AND segment_index >= %s", (pipeline_id, io.insertion_order_id, len(io.segments)))
    return len(rows)


# ------------------------------------------------------------------------------------------- pacing

# Per budget segment: spend (in the IO's currency) and impressions up to as_of and over the last
# 7 days, and how many rows were left out for being in another currency. It reads the per (IO, day,
# currency) totals kept beside campaign_daily, so each segment joins a few rows per day, not every line item.
# The sums are grouped on the narrow segment key first and joined to the wide segment rows after:
# grouping the joined rows by every segment column made PostgreSQL sort all (segment, day) rows on
# disk (8.7 s for 5,000 IOs × 365 days, growing with every day a backfill added).
_PACING_INPUTS = """
WITH segments AS MATERIALIZED (
    SELECT * FROM gold.budget_segments
    WHERE pipeline_id = %(pipeline_id)s AND (%(io_ids)s::text[] IS NULL OR insertion_order_id = ANY(%(io_ids)s))
), daily AS NOT MATERIALIZED (
    SELECT insertion_order_id, date, currency, spend, impressions, rows
    FROM gold.insertion_order_daily
    WHERE pipeline_id = %(pipeline_id)s AND date <= %(as_of)s
      AND date >= (SELECT coalesce(min(start_date), %(as_of)s) FROM segments)
      AND (%(io_ids)s::text[] IS NULL OR insertion_order_id = ANY(%(io_ids)s))
), main_currency AS (
    SELECT DISTINCT ON (insertion_order_id) insertion_order_id, currency
    FROM daily GROUP BY insertion_order_id, currency
    ORDER BY insertion_order_id, sum(rows) DESC, currency
), inputs AS (
    SELECT s.*, coalesce(s.currency, m.currency) AS io_currency FROM segments s
    LEFT JOIN main_currency m USING (insertion_order_id)
), sums AS (
    SELECT i.insertion_order_id, i.segment_index,
           sum(d.spend) FILTER (WHERE d.currency = i.io_currency) AS spend,
           sum(d.spend) FILTER (WHERE d.currency = i.io_currency AND d.date > %(week_start)s) AS spend_7d,
           sum(d.impressions) AS impressions,
           sum(d.impressions) FILTER (WHERE d.date > %(week_start)s) AS impressions_7d,
           sum(d.rows) FILTER (WHERE d.currency IS DISTINCT FROM i.io_currency) AS other_currency_rows
    FROM inputs i
    JOIN daily d ON d.insertion_order_id = i.insertion_order_id
                AND d.date BETWEEN i.start_date AND least(i.end_date, %(as_of)s)
    GROUP BY i.insertion_order_id, i.segment_index
)
SELECT i.org_id, i.advertiser_id, i.insertion_order_id, i.segment_index, i.insertion_order_name,
       i.io_currency, i.budget_unit, i.pacing_type, i.pacing_period, i.start_date, i.end_date, i.budget_amount,
       coalesce(x.spend, 0), coalesce(x.spend_7d, 0), coalesce(x.impressions, 0), coalesce(x.impressions_7d, 0),
       coalesce(x.other_currency_rows, 0)
FROM inputs i
LEFT JOIN sums x USING (insertion_order_id, segment_index)
"""

# updated_at takes its default (now(), the transaction's time) for every row.
_COPY_PACING = """
COPY gold.pacing_metrics (org_id, pipeline_id, advertiser_id, insertion_order_id, segment_index,
    insertion_order_name, currency, budget_unit, pacing_type, pacing_period, segment_start, segment_end,
    as_of_date, budget, flight_days, days_elapsed, spend_to_date, expected_spend_to_date, pacing_pct,
    projected_spend, projected_spend_7d, budget_remaining, required_daily, status, excluded_rows, execution_id)
FROM STDIN
"""


def recompute_pacing(conninfo: str, *, org_id: int, pipeline_id: UUID, as_of: date,
                     insertion_order_ids: Sequence[str] | None = None, execution_id: UUID | str | None = None) -> int:
    """Recompute ``gold.pacing_metrics`` of the pipeline's budget segments (or of some IOs) as of ``as_of``.

    Replaces those rows in one transaction; returns how many were written. Impression budgets pace
    impressions (any currency); currency budgets pace spend in the IO's currency only.
    """
    io_ids = list(insertion_order_ids) if insertion_order_ids is not None else None
    params = {"pipeline_id": pipeline_id, "io_ids": io_ids, "as_of": as_of,
              "week_start": as_of - timedelta(days=pacing.RUN_RATE_DAYS)}
    with connect(conninfo, "recomputing gold.pacing_metrics", pipeline=str(pipeline_id)) as connection:
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                           (f"gold.pacing_metrics:{pipeline_id}",))
            # A year of per-IO days is a few million joined rows, grouped into one row per segment. The
            # planner cannot estimate the date-range join, and right after a first load it has no
            # statistics at all: it then picked nested loops (segments × IO-days comparisons, 2.6 s for
            # one day of 4,832 segments) and disk sorts. This query is bulk work: hash joins, in memory.
            cursor.execute("SET LOCAL work_mem = '128MB'")
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute(_PACING_INPUTS, params)
            inputs = cursor.fetchall()
            rows = [_pacing_row(row, pipeline_id=pipeline_id, as_of=as_of, execution_id=execution_id)
                    for row in inputs if row[0] == org_id]
            cursor.execute("DELETE FROM gold.pacing_metrics WHERE pipeline_id = %s"
                           " AND (%s::text[] IS NULL OR insertion_order_id = ANY(%s))", (pipeline_id, io_ids, io_ids))
            if rows:
                with cursor.copy(_COPY_PACING) as copy:
                    for row in rows:
                        copy.write_row(row)
    return len(rows)


def _pacing_row(row: tuple, *, pipeline_id: UUID, as_of: date, execution_id: UUID | str | None) -> tuple:
    (org_id, advertiser_id, io_id, segment_index, io_name, currency, budget_unit, pacing_type, pacing_period,
     start, end, budget, spend, spend_7d, impressions, impressions_7d, other_currency_rows) = row
    by_impressions = budget_unit == "BUDGET_UNIT_IMPRESSIONS"
    spent = Decimal(impressions) if by_impressions else Decimal(spend)
    spent_7d = Decimal(impressions_7d) if by_impressions else Decimal(spend_7d)
    figures = pacing.pace(pacing.SegmentInput(
        budget=Decimal(budget), start=start, end=end, as_of=as_of, spend_to_date=spent,
        spend_last_7_days=spent_7d, pacing_type=pacing_type or "PACING_TYPE_EVEN"))
    excluded = 0 if by_impressions else int(other_currency_rows)
    return (org_id, pipeline_id, advertiser_id, io_id, segment_index, io_name, currency, budget_unit, pacing_type,
            pacing_period, start, end, as_of, budget, figures.flight_days, figures.days_elapsed, spent,
            figures.expected_spend_to_date, figures.pacing_pct, figures.projected_spend, figures.projected_spend_7d,
            figures.budget_remaining, figures.required_daily, figures.status, excluded,
            str(execution_id) if execution_id else None)
