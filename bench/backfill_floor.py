"""The backfill's reference: the least work that moves the same days from the sandbox into PostgreSQL.

Per day, in the bench process, with the backfill's parallelism: ask the sandbox for the report and
download it (the DV360 connector), read its data rows (``read_landing_file``, as Bronze does), parse
them to typed columns (``parse_frame``, as Silver does), add the ratios and binary-COPY them into a
copy of ``gold.campaign_daily`` (``gold_rows`` and ``encode_rows``, as Gold does). Nothing else: no
lake files, no quality rules, no deduplication, no Temporal, no execution rows, no events. What the
full backfill costs beyond this floor is what durability and orchestration cost; what this floor
costs is what any pipeline with this source and this sink pays on this machine.

``run_copies`` is the floor's own floor, PostgreSQL alone: the first day's encoded rows COPYed once
per day into another such table, with no download and no parsing.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

from etl_orchestrator.connectors.dv360 import Dv360Config, Dv360Connector
from etl_orchestrator.layers.gold import COLUMNS, CONSTANT_COLUMNS, COPY_BATCH_ROWS, gold_rows
from etl_orchestrator.layers.mappings import MONEY_METRICS, mapping_for, parse_frame, profile_columns
from etl_orchestrator.layers.pgcopy import HEADER, TRAILER, encode_rows
from etl_orchestrator.layers.readers import read_landing_file

TABLE = "bench_floor.campaign_daily"
# Days the backfill does not use, so the sandbox generates every report afresh, as it did for the backfill.
FIRST_DAY = date(2024, 1, 1)


def prepare(database_url: str, table: str) -> None:
    """An empty table shaped like gold.campaign_daily (its BRIN index and defaults included)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench_floor")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE gold.campaign_daily INCLUDING ALL)")


def parse_day(path: Path, day: date, org_id: int, pipeline_id: str) -> tuple[bytes, int]:
    """One downloaded DV360 report as a binary COPY payload of campaign_daily rows, and its row count."""
    mapping = mapping_for("dv360")
    frame = read_landing_file(path, "dv360").data.lazy()
    resolved = mapping.resolve(frame.collect_schema().names())
    profiles = profile_columns(frame, resolved)
    decimal_comma = any(profiles[resolved[field]].comma_decimals for field in MONEY_METRICS if resolved[field])
    typed = parse_frame(frame, resolved, mapping, partition_date=day, decimal_comma=decimal_comma,
                        profiles=profiles).collect()
    constants = [("int4", org_id), ("uuid", pipeline_id), ("date", day), ("uuid", None)]  # CONSTANT_COLUMNS
    rows = gold_rows(typed)
    # In Gold's batches: the encoder costs more per row in one large batch.
    payload = b"".join(encode_rows(rows.slice(offset, COPY_BATCH_ROWS), COLUMNS, constants)
                       for offset in range(0, rows.height, COPY_BATCH_ROWS))
    return payload, typed.height


def copy_payload(database_url: str, table: str, payload: bytes) -> None:
    """COPY one day's encoded rows into ``table``, in a transaction of its own."""
    columns = ", ".join([*CONSTANT_COLUMNS, *(column.name for column in COLUMNS)])
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(HEADER)
            copy.write(payload)
            copy.write(TRAILER)


def count_rows(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def run_floor(database_url: str, sandbox_url: str, token: str, *, days: int, parallelism: int,
                    org_id: int, pipeline_id: str) -> tuple[float, int, bytes]:
    """Move ``days`` days, ``parallelism`` at a time: the wall seconds, the rows loaded, the first day's payload."""
    prepare(database_url, TABLE)
    connector = Dv360Connector(Dv360Config(base_url=sandbox_url, token=token))
    gate = asyncio.Semaphore(parallelism)
    loaded: dict[date, int] = {}  # rows per day
    first_payload = b""

    async def one(day: date, scratch: Path) -> None:
        nonlocal first_payload
        async with gate:
            handle = await connector.request_report(day)
            while not handle.done:
                await asyncio.sleep(0.05)
                handle = await connector.report_status(handle)
            path = scratch / f"{day}.csv"
            await connector.download(handle, path)
            payload, rows = await asyncio.to_thread(parse_day, path, day, org_id, pipeline_id)
            await asyncio.to_thread(copy_payload, database_url, TABLE, payload)
            loaded[day] = rows
            if day == FIRST_DAY:
                first_payload = payload
            path.unlink()

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch:
        started = time.perf_counter()
        try:
            await asyncio.gather(*(one(FIRST_DAY + timedelta(days=index), Path(scratch)) for index in range(days)))
        finally:
            await connector.aclose()
        wall = time.perf_counter() - started
    rows = sum(loaded.values())
    assert count_rows(database_url, TABLE) == rows
    return wall, rows, first_payload


async def run_copies(database_url: str, payload: bytes, *, days: int, parallelism: int) -> float:
    """PostgreSQL alone: ``days`` COPYs of one encoded day, ``parallelism`` at a time; the wall seconds."""
    table = f"{TABLE}_copies"
    prepare(database_url, table)
    gate = asyncio.Semaphore(parallelism)

    async def one() -> None:
        async with gate:
            await asyncio.to_thread(copy_payload, database_url, table, payload)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(days)))
    return time.perf_counter() - started
