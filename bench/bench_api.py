"""REST API latency and trigger throughput, each printed beside a reference measured in the same run.

Starts, in a temporary directory, a dev-stack-like set-up: embedded PostgreSQL (fsync on, as
``etl-orchestrator dev`` runs it), the Temporal dev server (SQLite file, the dev stack's latency flags)
and one API process (``etl-orchestrator api``, REST and gRPC), but no worker. Then:

1. ``GET /api/v1/etl/executions`` with ``--rows`` executions in ``etl_executions`` (bulk-inserted with
   ``generate_series``; one in ten belongs to the benchmarked organization, the rest to 19 others,
   interleaved in time as tenants' runs are):
   p50/p99 of the first page and of a page deep in the listing (a cursor half-way down), beside the
   same SQL run directly with psycopg and a trivial endpoint (``/healthz``) over the same HTTP
   client; and the query plan, which must use ``idx_executions_org_started_id``.
2. ``POST /api/v1/etl/trigger`` for distinct ranges, from ``--concurrency`` aiohttp clients for
   ``--seconds``: requests/s, failures, and the CPU each process spent per trigger. Every trigger
   records an execution and its workflow start; the API's starter starts the Temporal workflows
   right after the answers, and the benchmark waits until every one has started (starts/s end to
   end). With no worker the executions stay ``scheduled`` (counted at the end).

Run: ``.venv/bin/python bench/bench_api.py [--rows 1000000] [--samples 300] [--seconds 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import httpx
import psutil
import psycopg
from sqlalchemy.dialects import postgresql
from temporalio.client import Client

from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.embedded import ManagedProcess, free_port, start_postgres, start_temporal, stop_all
from etl_orchestrator.service.auth import hash_key, new_key
from etl_orchestrator.service.context import Principal
from etl_orchestrator.service.executions import ExecutionFilter, listing_query
from etl_orchestrator.service.pagination import encode_cursor

NAMESPACE = "platform-etl"
OTHER_ORGS = 19
BENCH_EVERY = 10  # every 10th execution (10 %) is the benchmarked organization's, interleaved in time
PAGE = 50
LAYERS_JSON = ('{"layers": {"bronze": {"status": "completed", "records": 125000, "size_mb": 45.3, '
               '"duration_ms": 3200}, "silver": {"status": "completed", "records": 124850, '
               '"records_filtered": 150, "duration_ms": 5600}, "gold": {"status": "completed", '
               '"tables_updated": ["campaign_daily", "pacing_metrics"], "duration_ms": 2100}}, "partitions": {}}')


def listing_sql(org_id: int, cursor: str | None) -> tuple[str, dict]:
    """The SQL and parameters the service runs for an organization's listing (first page or after a cursor)."""
    principal = Principal(key_id="bench", org_id=org_id, is_admin=False)
    compiled = listing_query(principal, ExecutionFilter(), limit=PAGE, cursor=cursor).compile(
        dialect=postgresql.psycopg.dialect())
    return str(compiled), compiled.params


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms"


def timed(call: Callable[[], object], samples: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        call()
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


# ------------------------------------------------------------------------------------------ set-up


def seed(database_url: str, rows: int) -> tuple[int, str, str]:
    """Organizations, pipelines, keys and ``rows`` executions. Returns (org id, key, pipeline id)."""
    key = new_key()
    with psycopg.connect(database_url, autocommit=True) as conn:
        org_ids = [conn.execute("INSERT INTO organizations (name, slug) VALUES (%s, %s) RETURNING id",
                                (f"Bench {index}", f"bench-{index}")).fetchone()[0] for index in range(1 + OTHER_ORGS)]
        pipeline_ids = [conn.execute(
            "INSERT INTO pipelines (org_id, name, source_kind, source_config) VALUES (%s, 'Daily', 'dv360', "
            "'{\"base_url\": \"http://127.0.0.1:9\", \"token\": \"t\"}') RETURNING id", (org_id,)).fetchone()[0]
            for org_id in org_ids]
        conn.execute("INSERT INTO api_keys (org_id, name, prefix, key_hash) VALUES (%s, 'bench', %s, %s)",
                     (org_ids[0], key[:12], hash_key(key)))
        # The trigger that NOTIFYs every change would queue a million notifications: off for the load.
        conn.execute("ALTER TABLE etl_executions DISABLE TRIGGER etl_executions_notify")
        bench_rows = rows // BENCH_EVERY
        started = time.perf_counter()
        conn.execute(f"""
            INSERT INTO etl_executions (id, pipeline_id, org_id, status, started_at, completed_at, duration_ms,
                                        date_start, date_end, result, workflow_id, trigger)
            SELECT gen_random_uuid(), p.id, p.org_id,
                   CASE WHEN g %% 37 = 0 THEN 'failed' ELSE 'completed' END,
                   ts, ts + interval '11 seconds', 10900, ts::date, ts::date, '{LAYERS_JSON}'::jsonb,
                   'etl:' || p.id || ':' || g, 'schedule'
            FROM generate_series(1, %(rows)s) AS g
            CROSS JOIN LATERAL (SELECT timestamp '2015-01-01' + g * interval '3 minutes' AS ts) AS t
            JOIN pipelines p ON p.id = CASE WHEN g %% {BENCH_EVERY} = 0 THEN %(bench_pipeline)s::uuid
                                            ELSE (%(others)s::uuid[])[1 + g %% {OTHER_ORGS}] END
        """, {"rows": rows, "bench_pipeline": pipeline_ids[0], "others": pipeline_ids[1:]})
        conn.execute("ALTER TABLE etl_executions ENABLE TRIGGER etl_executions_notify")
        conn.execute("VACUUM ANALYZE etl_executions")
        print(f"seeded {rows:,} executions ({bench_rows:,} of the benchmarked org) in "
              f"{time.perf_counter() - started:.1f} s")
    return org_ids[0], key, str(pipeline_ids[0])


def start_api(root: Path, database_url: str, temporal_address: str,
              processes: int = 1) -> tuple[ManagedProcess, str]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ETL_")},
           "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address, "NATS_URL": "nats://127.0.0.1:9",
           "LAKE_URI": str(root / "lake"), "ETL_API__PORT": str(port), "ETL_API__GRPC_PORT": str(free_port()),
           "ETL_LOG_LEVEL": "warning", "ETL_API__PROCESSES": str(processes)}
    process = ManagedProcess("api", [sys.executable, "-m", "etl_orchestrator.cli", "api"],
                             log_path=root / "api.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.exited or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start; see {root / 'api.log'}")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------ 1. listing


def bench_listing(database_url: str, url: str, org_id: int, key: str, samples: int) -> None:
    with psycopg.connect(database_url) as conn:
        count = conn.execute("SELECT count(*) FROM etl_executions WHERE org_id = %s", (org_id,)).fetchone()[0]
        after_started, after_id = conn.execute(
            "SELECT started_at, id FROM etl_executions WHERE org_id = %s ORDER BY started_at DESC, id DESC "
            "OFFSET %s LIMIT 1", (org_id, count // 2)).fetchone()
        cursor = encode_cursor(after_started, after_id)
        first_sql, first_params = listing_sql(org_id, None)
        deep_sql, deep_params = listing_sql(org_id, cursor)
        for label, sql, params in (("first page", first_sql, first_params), ("deep cursor", deep_sql, deep_params)):
            plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)]
            uses = any("idx_executions_org_started_id" in line for line in plan)
            print(f"EXPLAIN {label}: uses idx_executions_org_started_id: {uses}")
            print("    " + "\n    ".join(line for line in plan if "Scan" in line or "Cond" in line
                                          or "Execution Time" in line))
        sql_first = timed(lambda: conn.execute(first_sql, first_params).fetchall(), samples)
        sql_deep = timed(lambda: conn.execute(deep_sql, deep_params).fetchall(), samples)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        def get(path: str, **params: str) -> None:
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text

        page = client.get("/api/v1/etl/executions", params={"cursor": cursor}).json()
        assert len(page["executions"]) == PAGE and page["executions"][0]["started_at"] < after_started.isoformat() + "Z"
        healthz = timed(lambda: get("/healthz"), samples)
        first = timed(lambda: get("/api/v1/etl/executions"), samples)
        deep = timed(lambda: get("/api/v1/etl/executions", cursor=cursor), samples)
    print(f"\nGET /api/v1/etl/executions, {count:,} rows of the org ({samples} sequential requests each):")
    print(f"  first page     REST {percentiles(first)}   | same SQL via psycopg {percentiles(sql_first)}")
    print(f"  deep cursor    REST {percentiles(deep)}   | same SQL via psycopg {percentiles(sql_deep)}")
    print(f"  reference      GET /healthz {percentiles(healthz)}")


# ------------------------------------------------------------------------------------------ 2. triggers


async def temporal_starts_per_second(temporal_address: str, *, seconds: float, concurrency: int) -> float:
    """Reference: workflow starts/s Temporal takes straight from a client (each trigger makes one)."""
    client = await Client.connect(temporal_address, namespace=NAMESPACE)
    deadline = time.monotonic() + seconds
    started = 0

    async def loop() -> None:
        nonlocal started
        while time.monotonic() < deadline:
            await client.start_workflow("BenchReference", id=f"reference:{uuid.uuid4()}", task_queue="bench-nobody")
            started += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return started / (time.perf_counter() - began)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and its children (PostgreSQL's backends)."""
    used = {}
    for name, pid in pids.items():
        process = psutil.Process(pid)
        total = sum(process.cpu_times()[:2])
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        used[name] = total
    return used


async def bench_triggers(database_url: str, url: str, key: str, pipeline_id: str, *, seconds: float,
                         concurrency: int, temporal_address: str, pids: dict[str, int]) -> None:
    base = date(2000, 1, 1)
    counter = iter(range(10**9))
    latencies: list[float] = []
    failures: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}

    async def client_loop(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            index = next(counter)
            # Distinct ranges: each request a day (or a short range) nobody asked for before.
            start = base + timedelta(days=index)
            end = start + timedelta(days=index % 3)
            started = time.perf_counter()
            try:
                async with session.post(url + "/api/v1/etl/trigger", headers=headers, json={
                        "pipeline_id": pipeline_id,
                        "parameters": {"date_range": {"start": start.isoformat(), "end": end.isoformat()}}}) as response:
                    body = await response.json(content_type=None)
                    outcome = "ok" if response.status == 200 and body["status"] == "scheduled" \
                        else f"HTTP {response.status}"
            except aiohttp.ClientError as exc:
                outcome = type(exc).__name__
            latencies.append((time.perf_counter() - started) * 1000)
            if outcome != "ok":
                failures[outcome] = failures.get(outcome, 0) + 1

    # aiohttp, not httpx, as the load generator: it needs a fraction of the CPU per request, and on
    # two cores every cycle the client spends is taken from the server being measured.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        # Reference: the same clients against a trivial endpoint, for a few seconds.
        reference_until = time.monotonic() + 3
        reference = 0

        async def healthz_loop() -> None:
            nonlocal reference
            while time.monotonic() < reference_until:
                async with session.get(url + "/healthz") as response:
                    await response.read()
                reference += 1

        await asyncio.gather(*(healthz_loop() for _ in range(concurrency)))
        deadline = time.monotonic() + seconds
        cpu_before = cpu_seconds(pids)
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_during = cpu_seconds(pids)
    total = len(latencies)
    # The workflows are started after each answer (service/workflow_starts.py): wait for the backlog.
    with psycopg.connect(database_url, autocommit=True) as conn:
        backlog = conn.execute("SELECT count(*) FROM workflow_starts").fetchone()[0]
        while conn.execute("SELECT count(*) FROM workflow_starts").fetchone()[0] and \
                time.perf_counter() - started < seconds + 120:
            await asyncio.sleep(0.05)
        drained = time.perf_counter() - started
        left = conn.execute("SELECT count(*) FROM workflow_starts").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, count(*) FROM etl_executions WHERE trigger = 'manual' "
                                     "GROUP BY status").fetchall())
    cpu_after = cpu_seconds(pids)
    print(f"\nPOST /api/v1/etl/trigger, distinct ranges, {concurrency} concurrent clients for {elapsed:.1f} s:")
    print(f"  {total:,} requests = {total / elapsed:,.0f} requests/s, failed: {sum(failures.values())} {failures or ''}")
    print(f"  latency {percentiles(latencies)}")
    print("  CPU per trigger while answering: " + ", ".join(
        f"{name} {(cpu_during[name] - cpu_before[name]) / max(total, 1) * 1000:.2f} ms" for name in pids))
    print(f"  workflow starts pending when the last answer went out: {backlog:,}; all {total - left:,} started "
          f"{drained:.1f} s after the first trigger = {(total - left) / drained:,.0f} starts/s end to end "
          f"({left} still pending)")
    print("  CPU per trigger, answers and starts: " + ", ".join(
        f"{name} {(cpu_after[name] - cpu_before[name]) / max(total, 1) * 1000:.2f} ms" for name in pids))
    print(f"  reference      GET /healthz with the same clients: {reference / 3:,.0f} requests/s")
    starts = await temporal_starts_per_second(temporal_address, seconds=5, concurrency=concurrency)
    print(f"  reference      Temporal start_workflow straight from a client, {concurrency} at once: "
          f"{starts:,.0f} starts/s")
    print(f"  executions recorded by the triggers, by status: {statuses} (no worker runs them)")


def machine() -> str:
    """What else the machine is doing matters to every figure here: say it beside them."""
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"


def main(rows: int, samples: int, seconds: float, concurrency: int, api_processes: int) -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as directory:
        root = Path(directory)
        postgres, database_url = start_postgres(root / "pgdata", port=free_port(), log_path=root / "postgres.log")
        temporal_port = free_port()
        temporal = start_temporal(port=temporal_port, ui_port=None, http_port=free_port(), metrics_port=free_port(),
                                  namespace=NAMESPACE, db_file=root / "temporal" / "temporal.db",
                                  log_path=root / "temporal.log")
        processes = [postgres, temporal]
        try:
            upgrade(database_url)
            org_id, key, pipeline_id = seed(database_url, rows)
            api, url = start_api(root, database_url, f"127.0.0.1:{temporal_port}", api_processes)
            print(f"API processes: {api_processes} (api.processes)")
            processes.append(api)
            print(f"machine before the listing: {machine()}")
            bench_listing(database_url, url, org_id, key, samples)
            print(f"\nmachine before the triggers: {machine()}")
            pids = {"API": api.popen.pid, "Temporal": temporal.popen.pid, "PostgreSQL": postgres.popen.pid}
            asyncio.run(bench_triggers(database_url, url, key, pipeline_id, seconds=seconds,
                                       concurrency=concurrency, temporal_address=f"127.0.0.1:{temporal_port}",
                                       pids=pids))
        finally:
            stop_all(list(reversed(processes)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--api-processes", type=int, default=1, help="api.processes of the API under test")
    arguments = parser.parse_args()
    main(arguments.rows, arguments.samples, arguments.seconds, arguments.concurrency, arguments.api_processes)
