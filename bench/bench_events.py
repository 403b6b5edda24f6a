"""Relay throughput and latency: how fast committed outbox rows reach a JetStream consumer.

Starts its own embedded PostgreSQL and nats-server in a temporary directory, then measures
1. backlog drain: N events already in the outbox, published by one relay and by two at once;
2. latency: one event at a time, from the writer's commit to a consumer receiving it (NOTIFY wake-up).

Run: ``.venv/bin/python bench/bench_events.py [--events 5000] [--executions 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import nats
import psycopg
from nats.js.api import DeliverPolicy

from etl_orchestrator.db.engine import sync_engine
from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.domain.events import EventType
from etl_orchestrator.embedded import free_port, start_nats, start_postgres, stop_all
from etl_orchestrator.events.outbox import enqueue_event
from etl_orchestrator.events.relay import OutboxRelay


def fill_outbox(database_url: str, events: int, executions: int) -> None:
    """``events`` rows spread round-robin over ``executions``, in one transaction (it is a backlog)."""
    execution_ids = [uuid.uuid4() for _ in range(executions)]
    with sync_engine(database_url).begin() as conn:
        for index in range(events):
            enqueue_event(conn, EventType.LAYER_COMPLETED, org_id=1, pipeline_id=None,
                          execution_id=execution_ids[index % executions], data={"sequence": index})


async def drain(database_url: str, nats_url: str, relays: int) -> float:
    """Seconds until ``relays`` relays running at once have published the whole outbox."""
    instances = [OutboxRelay(database_url, nats_url, batch_size=200) for _ in range(relays)]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(relay.publish_pending() for relay in instances))
    finally:
        for relay in instances:
            await relay.close()
    return time.perf_counter() - started


async def commit_to_consumer_latency(database_url: str, nats_url: str, samples: int) -> list[float]:
    """Milliseconds from commit to receipt, for ``samples`` events written one by one."""
    nc = await nats.connect(nats_url)
    subscription = await nc.jetstream().subscribe("etl.events.>", stream="ETL_EVENTS", ordered_consumer=True,
                                                  deliver_policy=DeliverPolicy.NEW)
    relay = OutboxRelay(database_url, nats_url, poll_interval_s=5.0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    engine = sync_engine(database_url)
    latencies = []
    try:
        await asyncio.sleep(0.5)
        for _ in range(samples):
            def write() -> float:
                with engine.begin() as conn:
                    enqueue_event(conn, EventType.EXECUTION_STARTED, org_id=1, pipeline_id=None,
                                  execution_id=uuid.uuid4(), data={})
                return time.perf_counter()

            committed = await asyncio.to_thread(write)
            await subscription.next_msg(timeout=10)
            latencies.append((time.perf_counter() - committed) * 1000)
    finally:
        stop.set()
        await running
        await nc.close()
    return latencies


async def main(events: int, executions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-events-") as directory:
        root = Path(directory)
        postgres, database_url = start_postgres(root / "pgdata", port=free_port(), fast_unsafe=True)
        nats_port = free_port()
        broker = start_nats(port=nats_port, store_dir=root / "nats", log_path=root / "nats.log")
        nats_url = f"nats://127.0.0.1:{nats_port}"
        try:
            upgrade(database_url)
            for relays in (1, 2):
                fill_outbox(database_url, events, executions)
                seconds = await drain(database_url, nats_url, relays)
                print(f"drain {events} events over {executions} executions, {relays} relay(s): "
                      f"{seconds:.2f} s = {events / seconds:,.0f} events/s")
            latencies = await commit_to_consumer_latency(database_url, nats_url, samples=50)
            print(f"commit → consumer latency over {len(latencies)} events: p50 {statistics.median(latencies):.1f} ms, "
                  f"max {max(latencies):.1f} ms")
            with psycopg.connect(database_url) as conn:
                pending = conn.execute("SELECT count(*) FROM event_outbox WHERE published_at IS NULL").fetchone()[0]
            print(f"left in the outbox: {pending}")
        finally:
            stop_all([postgres, broker])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--executions", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.executions))
