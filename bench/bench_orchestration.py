"""Orchestration benchmarks on the dev-stack shape, each beside a "Temporal alone" reference of the same run.

Starts, in a temporary directory: embedded PostgreSQL, the Temporal dev server (SQLite file, the
latency flags of TEMPORAL-NOTES §11, as ``etl-orchestrator dev`` runs it), NATS, a DSP sandbox,
one API process and ``--workers`` worker processes (default 1). Then measures (nothing is asserted):

1. ``latency``: trigger → completed of a one-row partition (POST /trigger until the execution row
   says completed, seen through LISTEN on ``etl_execution``), p50 over ``--runs`` runs, one at a time;
   reference: a trivial workflow of 3 no-op activities on the same server (in-process worker).
2. ``throughput``: ``--concurrent`` one-row partitions triggered at once (one POST each): partitions/s
   from the first POST to the last completion, and how many failed; reference: as many trivial workflows,
   and what they cost in CPU.
3. ``backfill``: a ``--backfill-days`` backfill of ``--backfill-rows``-row days (a second sandbox with
   that many rows per day), wall time and where it goes (per-layer time summed over partitions);
   references (``backfill_floor.py``): the same days downloaded, parsed and COPYed with no lake and no
   Temporal, then PostgreSQL alone COPYing encoded rows.

Run: ``.venv/bin/python bench/bench_orchestration.py [--runs 30] [--concurrent 200]
[--backfill-days 365] [--backfill-rows 125000] [--parallelism 4] [--workers 1]
[--skip latency,throughput,backfill]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# For tests.support; string operations only: the workflow sandbox re-imports this module.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import backfill_floor  # noqa: E402
from etl_orchestrator.config import Settings, load_settings  # noqa: E402
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.embedded import (
    ManagedProcess,
    free_port,
    start_nats,
    start_postgres,
    start_temporal,
    stop_all,
    wait_until,
)
from etl_orchestrator.service import backfills
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.temporal_client import connect_temporal
from etl_orchestrator.worker import PASSTHROUGH_MODULES  # noqa: E402
from tests.support import create_tenant  # noqa: E402

NAMESPACE = "platform-etl"
TOKEN = "bench-token"
ADMIN = Principal(key_id="bench", org_id=None, is_admin=True)


# ------------------------------------------------------------------------------------------ reference


@activity.defn(name="bench_noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchTrivial")
class Trivial:
    """The reference: what Temporal alone costs for a 3-step workflow on this server."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=10))
        return steps


async def reference_latency(client: Client, queue: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await client.execute_workflow(Trivial.run, 3, id=f"bench-{uuid.uuid4()}", task_queue=queue)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def reference_throughput(client: Client, queue: str, count: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(client.execute_workflow(Trivial.run, 3, id=f"bench-{uuid.uuid4()}", task_queue=queue)
                           for _ in range(count)))
    return count / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------ the stack


@dataclass
class BenchStack:
    settings: Settings
    api_url: str
    sandbox_url: str
    big_sandbox_url: str | None
    processes: list[ManagedProcess]


def start_stack(root: Path, *, backfill_rows: int | None, workers: int = 1) -> BenchStack:
    logs = root / "logs"
    processes: list[ManagedProcess] = []
    postgres, database_url = start_postgres(root / "pg", port=free_port(), log_path=logs / "postgres.log")
    processes.append(postgres)
    temporal_port = free_port()
    processes.append(start_temporal(port=temporal_port, ui_port=None, http_port=free_port(),
                                    metrics_port=free_port(), namespace=NAMESPACE, db_file=root / "temporal.db",
                                    log_path=logs / "temporal.log"))
    nats_port = free_port()
    processes.append(start_nats(port=nats_port, store_dir=root / "nats", log_path=logs / "nats.log"))
    upgrade(database_url)

    def sandbox(name: str, rows: int) -> str:
        port = free_port()
        processes.append(ManagedProcess(name, [sys.executable, "-m", "etl_orchestrator.sandbox", "--host",
                                               "127.0.0.1", "--port", str(port), "--token", TOKEN,
                                               "--rows-per-day", str(rows), "--report-delay-s", "0"],
                                        log_path=logs / f"{name}.log").start())
        return f"http://127.0.0.1:{port}"

    sandbox_url = sandbox("sandbox", 1)
    big_sandbox_url = sandbox("sandbox-big", backfill_rows) if backfill_rows else None
    api_port = free_port()
    # ETL_* variables of the caller reach the worker and API (e.g. ETL_WORKERS__CPU_THREADS to compare).
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
                "NATS_URL": f"nats://127.0.0.1:{nats_port}", "LAKE_URI": str(root / "lake"),
                "ETL_API__PORT": str(api_port), "ETL_API__GRPC_PORT": str(free_port()),
                "ETL_DEV__WORKER_METRICS_PORT": "0"})
    settings = load_settings(environ=env)
    services = [(f"worker-{index}" if index else "worker", "worker") for index in range(workers)] + [("api", "api")]
    for name, command in services:
        processes.append(ManagedProcess(name, [sys.executable, "-m", "etl_orchestrator.cli", command],
                                        log_path=logs / f"{name}.log", env=env).start())
    api_url = f"http://127.0.0.1:{api_port}"
    for url in [api_url, sandbox_url, big_sandbox_url]:
        if url:
            wait_until(lambda url=url: httpx.get(url + "/healthz", timeout=1).status_code < 500, timeout_s=60,
                       what=url)
    return BenchStack(settings, api_url, sandbox_url, big_sandbox_url, processes)


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards; the name may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(stack: BenchStack) -> dict[str, float]:
    """CPU seconds (user + system) each stack process and its descendants have used so far (Linux /proc).

    A figure steadier than wall time on a shared machine: what a partition costs, not how long it
    waited for a core. A process that exited counts once its parent has reaped it (a closed
    PostgreSQL connection's backend, by the postmaster).
    """
    parent_of, cpu_of = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry.name)
        except OSError:
            continue
        parent_of[int(entry.name)] = int(fields[1])
        # Its own time and its reaped children's (PostgreSQL's backends that closed their connection).
        cpu_of[int(entry.name)] = sum(int(value) for value in fields[11:15]) / tick
    totals: dict[str, float] = {}
    for process in stack.processes:
        kind = process.name.split("-")[0]  # worker-1 counts as worker, sandbox-big as sandbox
        for pid in cpu_of:
            ancestor = pid
            while ancestor not in (0, 1, process.pid) and ancestor in parent_of:
                ancestor = parent_of[ancestor]
            if ancestor == process.pid:
                totals[kind] = totals.get(kind, 0.0) + cpu_of[pid]
    return totals


def cpu_with_bench(stack: BenchStack) -> dict[str, float]:
    """``process_cpu`` and this process's own CPU, which runs the references' work (the in-process worker)."""
    return {**process_cpu(stack), "bench process": time.process_time()}


def print_cpu(before: dict[str, float], after: dict[str, float], partitions: int, *,
              label: str = "   CPU ms per partition:") -> None:
    used = {name: (after.get(name, 0.0) - before.get(name, 0.0)) * 1000 / partitions for name in after}
    print(f"{label} " + ", ".join(f"{name} {value:.0f}" for name, value in
                                                  sorted(used.items(), key=lambda item: -item[1]) if value >= 0.5)
          + f" (all {sum(used.values()):.0f})")


def print_worker_memory(stack: BenchStack) -> None:
    """Peak and current resident memory of each worker process (VmHWM, VmRSS of /proc), and its page faults."""
    for process in stack.processes:
        if process.name.split("-")[0] != "worker":
            continue
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines())
        peak, now = (int(fields[key].split()[0]) // 1024 for key in ("VmHWM", "VmRSS"))
        faults = int(_stat_fields(process.pid)[7])  # minflt
        print(f"   {process.name} memory: peak {peak} MB, now {now} MB; {faults:,} minor page faults since it started")


class CompletionWatch:
    """LISTEN etl_execution: when each execution reached a terminal status (perf_counter time)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.finished: dict[str, tuple[float, str]] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> CompletionWatch:
        self._conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
        await self._conn.execute("LISTEN etl_execution")
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        import json

        async for notice in self._conn.notifies():
            change = json.loads(notice.payload)
            if change["status"] in ("completed", "failed", "cancelled"):
                self.finished.setdefault(change["id"], (time.perf_counter(), change["status"]))
                async with self._changed:
                    self._changed.notify_all()

    async def wait(self, execution_ids: list[str], timeout_s: float) -> dict[str, tuple[float, str]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: all(execution_id in self.finished for execution_id in execution_ids)), timeout_s)
        return {execution_id: self.finished[execution_id] for execution_id in execution_ids}

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        await self._conn.close()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def trigger_body(pipeline_id: str, day: date) -> dict[str, Any]:
    return {"pipeline_id": pipeline_id,
            "parameters": {"date_range": {"start": day.isoformat(), "end": day.isoformat()}, "force": False}}


async def history_events(client: Client, workflow_id: str) -> list[Any]:
    """The workflow's history; none if it never ran (the ingestion child runs only for a report not ready)."""
    try:
        return [event async for event in client.get_workflow_handle(workflow_id).fetch_history_events()]
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return []
        raise


async def activity_count(client: Client, workflow_ids: list[str]) -> int:
    count = 0
    for workflow_id in workflow_ids:
        for event in await history_events(client, workflow_id):
            count += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return count


async def history_profile(client: Client, workflow_ids: list[str]) -> dict[str, tuple[int, float, float]]:
    """Per activity type (and workflow task): count, mean ms waiting in the queue, mean ms running."""
    waits: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {}
    for workflow_id in workflow_ids:
        scheduled: dict[int, tuple[str, Any]] = {}
        started: dict[int, Any] = {}
        for event in await history_events(client, workflow_id):
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name,
                                             event.event_time.ToDatetime())
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled[event.event_id] = ("(workflow task)", event.event_time.ToDatetime())
            elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED):
                attributes = (event.activity_task_started_event_attributes
                              if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                              else event.workflow_task_started_event_attributes)
                name, at = scheduled[attributes.scheduled_event_id]
                waits.setdefault(name, []).append((event.event_time.ToDatetime() - at).total_seconds() * 1000)
                started[attributes.scheduled_event_id] = event.event_time.ToDatetime()
            elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                          EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED):
                attributes = (event.activity_task_completed_event_attributes
                              if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                              else event.workflow_task_completed_event_attributes)
                name, _ = scheduled[attributes.scheduled_event_id]
                began = started.get(attributes.scheduled_event_id)
                if began is not None:
                    elapsed = event.event_time.ToDatetime() - began
                    runs.setdefault(name, []).append(elapsed.total_seconds() * 1000)
    return {name: (len(waits[name]), statistics.mean(waits[name]), statistics.mean(runs.get(name, [0.0])))
            for name in waits}


def print_profile(profile: dict[str, tuple[int, float, float]], partitions: int) -> None:
    print(f"   {'per partition':28}{'count':>7}{'queued ms':>11}{'running ms':>12}")
    for name, (count, queued, running) in sorted(profile.items(), key=lambda item: -item[1][2] * item[1][0]):
        print(f"   {name:28}{count / partitions:7.1f}{queued:11.0f}{running:12.0f}")


async def layer_breakdown(database_url: str, execution_ids: list[str]) -> dict[str, float]:
    """Mean ms per partition: whole execution, each layer as recorded, and the rest (orchestration)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT duration_ms, (result->'layers'->'bronze'->>'duration_ms')::int,"
            " (result->'layers'->'silver'->>'duration_ms')::int, (result->'layers'->'gold'->>'duration_ms')::int"
            " FROM etl_executions WHERE id = ANY(%s)", ([UUID(i) for i in execution_ids],)).fetchall()
    total, bronze, silver, gold = (statistics.mean(column) for column in zip(*rows, strict=True))
    return {"execution": total, "bronze": bronze, "silver": silver, "gold": gold,
            "outside layers": total - bronze - silver - gold}


# ------------------------------------------------------------------------------------------ measurements


async def measure_latency(stack: BenchStack, client: Client, http: httpx.AsyncClient, tenant, runs: int,
                          reference_queue: str) -> None:
    samples, post_ms, ids = [], [], []
    async with CompletionWatch(stack.settings.database.libpq_url) as watch:
        for index in range(runs + 3):  # the first 3 warm up the worker and are not counted
            day = date(2023, 1, 1) + timedelta(days=index)
            started = time.perf_counter()
            response = await http.post("/api/v1/etl/trigger", headers=tenant.headers,
                                       json=trigger_body(tenant.pipeline_id, day))
            posted = time.perf_counter()
            execution_id = response.json()["execution_id"]
            finished = await watch.wait([execution_id], 60)
            moment, status = finished[execution_id]
            if index >= 3:
                samples.append((moment - started) * 1000)
                post_ms.append((posted - started) * 1000)
                ids.append(execution_id)
            assert status == "completed", status
    reference = await reference_latency(client, reference_queue, runs)
    workflow_ids = [f"etl:{tenant.pipeline_id}:{day}:{day}" for day in [date(2023, 1, 4)]]
    activities = await activity_count(client, workflow_ids + [f"ingest:{ids[0]}:2023-01-04"])
    profile = await history_profile(client, [f"etl:{tenant.pipeline_id}:{day}:{day}" for day in (
        date(2023, 1, 1) + timedelta(days=index) for index in range(3, runs + 3))]
        + [f"ingest:{execution_id}:{date(2023, 1, 1) + timedelta(days=index + 3)}"
           for index, execution_id in enumerate(ids)])
    breakdown = await layer_breakdown(stack.settings.database.url, ids)
    print(f"\n1. trigger → completed, one-row partition, {runs} runs one at a time (target p50 ≤ 150 ms)")
    print(f"   {'':28}{'p50':>9}{'p90':>9}{'max':>9}")
    print(f"   {'ETL partition':28}{statistics.median(samples):9.0f}{percentile(samples, .9):9.0f}"
          f"{max(samples):9.0f} ms")
    print(f"   {'Temporal alone (3 no-ops)':28}{statistics.median(reference):9.0f}"
          f"{percentile(reference, .9):9.0f}{max(reference):9.0f} ms")
    print(f"   POST /trigger itself: p50 {statistics.median(post_ms):.0f} ms; activities per partition: "
          f"{activities} (ETL, and the ingestion child if it ran); mean ms per execution: "
          + ", ".join(f"{name} {value:.0f}" for name, value in breakdown.items()))
    print_profile(profile, runs)


async def measure_throughput(stack: BenchStack, client: Client, http: httpx.AsyncClient, tenant, count: int,
                             reference_queue: str) -> None:
    days = [date(2021, 1, 1) + timedelta(days=index) for index in range(count)]
    async with CompletionWatch(stack.settings.database.libpq_url) as watch:
        cpu_before = process_cpu(stack)
        started = time.perf_counter()
        responses = await asyncio.gather(*(http.post("/api/v1/etl/trigger", headers=tenant.headers,
                                                     json=trigger_body(tenant.pipeline_id, day)) for day in days))
        posted = time.perf_counter()
        ids = [response.json()["execution_id"] for response in responses]
        finished = await watch.wait(ids, 600)
        cpu_after = process_cpu(stack)
    wall = max(moment for moment, _ in finished.values()) - started
    failed = sum(status != "completed" for _, status in finished.values())
    sample = ids[::max(1, count // 20)]
    profile = await history_profile(client, [f"etl:{tenant.pipeline_id}:{day}:{day}" for day in days[::max(
        1, count // 20)]] + [f"ingest:{execution_id}:{day}" for execution_id, day in zip(
            sample, days[::max(1, count // 20)], strict=False)])
    breakdown = await layer_breakdown(stack.settings.database.url, ids)
    reference_before = cpu_with_bench(stack)
    reference = await reference_throughput(client, reference_queue, count)
    reference_after = cpu_with_bench(stack)
    print(f"\n2. {count} one-row partitions triggered at once (target ≥ 25/s, none failed)")
    print(f"   ETL partitions              {count / wall:7.1f} /s   ({wall:.1f} s wall, all POSTs answered in "
          f"{posted - started:.1f} s, {failed} failed)")
    print(f"   Temporal alone (3 no-ops)   {reference:7.1f} /s")
    print_cpu(cpu_before, cpu_after, count)
    print_cpu(reference_before, reference_after, count,
              label="   Temporal alone's CPU ms per workflow (its worker runs in the bench process):")
    print_worker_memory(stack)
    print("   where a partition's time goes (Temporal history of a sample of 20, ETL and any ingestion child):")
    print_profile(profile, len(sample))
    print("   mean ms per execution: " + ", ".join(f"{name} {value:.0f}" for name, value in breakdown.items()))


async def measure_backfill(stack: BenchStack, client: Client, days: int, rows: int, parallelism: int) -> None:
    tenant = await create_tenant(stack.settings.database.url,
                                 source_config={"base_url": stack.big_sandbox_url, "token": TOKEN})
    engine = make_async_engine(stack.settings.database.url, pool_size=2)
    ctx = ServiceContext(settings=stack.settings, engine=engine, temporal=client)
    start = date(2022, 1, 1)
    cpu_before = process_cpu(stack)
    started = time.perf_counter()
    created = await backfills.create_backfill(ctx, ADMIN, pipeline_id=UUID(tenant.pipeline_id), start=start,
                                              end=start + timedelta(days=days - 1), parallelism=parallelism)
    last_print = 0.0
    while True:
        view = await backfills.get_backfill(ctx, ADMIN, UUID(created["backfill_id"]))
        if view["status"] in ("completed", "failed", "cancelled"):
            break
        if time.perf_counter() - last_print > 30:
            last_print = time.perf_counter()
            progress = view["progress"]
            print(f"   … {time.perf_counter() - started:5.0f} s: done {progress['done']}/{progress['total']}, "
                  f"eta {progress['eta_s']} s", flush=True)
        await asyncio.sleep(1)
    wall = time.perf_counter() - started
    cpu_after = process_cpu(stack)
    with psycopg.connect(stack.settings.database.url) as conn:
        ids = [str(row[0]) for row in conn.execute("SELECT id FROM etl_executions WHERE backfill_id = %s",
                                                   (created["backfill_id"],))]
        gold_rows = conn.execute("SELECT count(*) FROM gold.campaign_daily WHERE pipeline_id = %s",
                                 (tenant.pipeline_id,)).fetchone()[0]
    breakdown = await layer_breakdown(stack.settings.database.url, ids)
    await engine.dispose()
    total_rows = days * rows
    print(f"\n3. backfill of {days} days × {rows:,} rows = {total_rows / 1e6:.1f} M rows, parallelism "
          f"{parallelism} (target ≤ 4 min)")
    print(f"   status {view['status']}: {wall:.0f} s wall ({days / wall:.2f} partitions/s, "
          f"{total_rows / wall / 1e3:.0f} k rows/s); gold rows {gold_rows:,}")
    print("   mean ms per partition: " + ", ".join(f"{name} {value:.0f}" for name, value in breakdown.items()))
    print_cpu(cpu_before, cpu_after, days)
    print_worker_memory(stack)
    print(f"   orchestration share of partition time: {breakdown['outside layers'] / breakdown['execution']:.0%}")
    await measure_floor(stack, tenant, days, parallelism, backfill_wall=wall)


async def measure_floor(stack: BenchStack, tenant, days: int, parallelism: int, *, backfill_wall: float) -> None:
    """The backfill's references, same run (bench/backfill_floor.py): download, parse and COPY only; then
    PostgreSQL alone, COPYing already encoded rows."""
    cpu_before = cpu_with_bench(stack)
    wall, rows, payload = await backfill_floor.run_floor(
        stack.settings.database.libpq_url, stack.big_sandbox_url, TOKEN, days=days, parallelism=parallelism,
        org_id=tenant.org_id, pipeline_id=tenant.pipeline_id)
    cpu_after = cpu_with_bench(stack)
    print(f"   reference 1, download + parse + COPY only (no lake, no Temporal): {wall:.0f} s wall, {rows:,} rows "
          f"(the backfill took {backfill_wall / wall:.2f}× as long)")
    print_cpu(cpu_before, cpu_after, days)
    cpu_before = cpu_with_bench(stack)
    wall = await backfill_floor.run_copies(stack.settings.database.libpq_url, payload, days=days,
                                           parallelism=parallelism)
    cpu_after = cpu_with_bench(stack)
    print(f"   reference 2, PostgreSQL alone (one encoded day COPYed {days} times): {wall:.0f} s wall "
          f"(the backfill took {backfill_wall / wall:.2f}× as long)")
    print_cpu(cpu_before, cpu_after, days)


async def main(args: argparse.Namespace) -> None:
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-orchestration-") as tmp:
        stack = start_stack(Path(tmp), backfill_rows=None if "backfill" in skip else args.backfill_rows,
                            workers=args.workers)
        try:
            client = await connect_temporal(stack.settings)
            reference_queue = f"bench-reference-{uuid.uuid4().hex[:6]}"
            tenant = await create_tenant(stack.settings.database.url,
                                         source_config={"base_url": stack.sandbox_url, "token": TOKEN})
            print("dev stack: Temporal dev server (SQLite file, latency flags), PostgreSQL, NATS, "
                  f"sandbox with 1 row per day, {args.workers} worker process(es); {os.cpu_count()} cores")
            # The same sandbox settings as the service's worker, so the reference pays what it pays.
            runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(
                *PASSTHROUGH_MODULES, "nats", "tests"))
            async with Worker(client, task_queue=reference_queue, workflows=[Trivial], activities=[noop],
                              workflow_runner=runner), \
                    httpx.AsyncClient(base_url=stack.api_url, timeout=120,
                                      # Idle connections are dropped before the server's 5 s keep-alive
                                      # closes them: a POST on a connection it just closed fails unretried.
                                      limits=httpx.Limits(max_connections=100, keepalive_expiry=2.0)) as http:
                steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                    ("latency", lambda: measure_latency(stack, client, http, tenant, args.runs, reference_queue)),
                    ("throughput", lambda: measure_throughput(stack, client, http, tenant, args.concurrent,
                                                              reference_queue)),
                    ("backfill", lambda: measure_backfill(stack, client, args.backfill_days, args.backfill_rows,
                                                          args.parallelism)),
                ]
                for name, step in steps:
                    if name not in skip:
                        await step()
        finally:
            stop_all(stack.processes, timeout_s=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--backfill-rows", type=int, default=125_000)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="worker processes on the task queues")
    parser.add_argument("--skip", default="", help="comma-separated: latency, throughput, backfill")
    asyncio.run(main(parser.parse_args()))
    os._exit(0)  # TEMPORAL-NOTES gotcha 11: avoid the SDK's rare crash at interpreter exit
