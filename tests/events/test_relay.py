"""Delivery guarantees of the outbox relay, against real PostgreSQL and real nats-server processes."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import nats
import psycopg

from etl_orchestrator.events.relay import CLAIM_SQL, OutboxEvent, OutboxRelay
from tests.events.outbox_support import (
    eventually,
    pending_events,
    read_stream,
    running,
    stream_message_count,
    write_events,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def relay_for(outbox_url: str, nats_url: str, **options) -> OutboxRelay:
    options.setdefault("publish_timeout_s", 1.0)
    options.setdefault("max_backoff_s", 0.5)
    return OutboxRelay(outbox_url, nats_url, **options)


async def test_events_reach_the_stream_in_order_with_their_id_as_msg_id(outbox_url, private_nats):
    execution_id = uuid.uuid4()
    event_ids = await asyncio.to_thread(write_events, outbox_url, execution_id, 5)
    async with relay_for(outbox_url, private_nats.url) as relay:
        assert await relay.publish_pending() == 5

    streamed = await read_stream(private_nats.url, expected=5)
    assert [event.msg_id for event in streamed] == event_ids
    assert [event.event["id"] for event in streamed] == event_ids
    assert {event.subject for event in streamed} == {"etl.events.layer.completed"}
    assert streamed[0].event["specversion"] == "1.0"
    assert pending_events(outbox_url) == []


async def test_relay_killed_mid_batch_loses_nothing_and_the_consumer_sees_no_duplicate(outbox_url, private_nats):
    execution_id = uuid.uuid4()
    event_ids = await asyncio.to_thread(write_events, outbox_url, execution_id, 10)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.events.relay_child", outbox_url, private_nats.url, "4",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line.strip() == b"published 4"
        # The stalled relay still holds the execution: another relay must not overtake it.
        async with relay_for(outbox_url, private_nats.url) as bystander:
            assert await bystander.publish_pending() == 0
    finally:
        child.kill()  # SIGKILL: no chance to mark anything
        await child.wait()

    assert len(pending_events(outbox_url)) == 10, "published but unmarked events must still be pending"
    assert await stream_message_count(private_nats.url) == 4

    async with relay_for(outbox_url, private_nats.url) as restarted:
        assert await restarted.publish_pending() == 10
    assert restarted.stats.duplicates == 4, "the four re-published events are dropped by the broker"
    assert pending_events(outbox_url) == []
    streamed = await read_stream(private_nats.url, expected=10)
    assert [event.msg_id for event in streamed] == event_ids


async def test_nats_outage_keeps_events_in_the_outbox_without_blocking_writers(outbox_url, private_nats):
    execution_id = uuid.uuid4()
    async with relay_for(outbox_url, private_nats.url, poll_interval_s=0.2) as relay, running(relay.run):
        before = await asyncio.to_thread(write_events, outbox_url, execution_id, 3)
        await eventually(lambda: not pending_events(outbox_url), timeout_s=10, what="the first events to flow")

        private_nats.stop()
        started = time.monotonic()
        during = await asyncio.to_thread(write_events, outbox_url, execution_id, 5, first_sequence=3)
        assert time.monotonic() - started < 2.0, "writers must not wait for the broker"
        await eventually(lambda: any(row["attempts"] > 0 for row in pending_events(outbox_url)), timeout_s=10,
                         what="a failed publish attempt to be recorded")
        waiting = pending_events(outbox_url)
        assert [row["event_id"] for row in waiting] == during
        assert any("NATS" in (row["last_error"] or "") for row in waiting)

        private_nats.start()
        await eventually(lambda: not pending_events(outbox_url), timeout_s=20,
                         what="the waiting events to flow after NATS returned")

    streamed = await read_stream(private_nats.url, expected=8)
    assert [event.msg_id for event in streamed] == before + during
    assert [event.event["data"]["sequence"] for event in streamed] == list(range(8))


class SlowRelay(OutboxRelay):
    """A relay whose publishes take a little while, so two relays really overlap."""

    async def _publish(self, event: OutboxEvent) -> bool:
        await asyncio.sleep(0.002)
        return await super()._publish(event)


async def test_two_relays_deliver_each_event_once_and_in_order_per_execution(outbox_url, private_nats):
    executions = [uuid.uuid4() for _ in range(12)]
    events_per_execution = 8
    relays = [SlowRelay(outbox_url, private_nats.url, batch_size=4, poll_interval_s=0.2, publish_timeout_s=2)
              for _ in range(2)]
    async with running(*(relay.run for relay in relays)):
        # Writers run while the relays publish, one writer per execution as in the execution store.
        written = await asyncio.gather(*(
            asyncio.to_thread(write_events, outbox_url, execution_id, events_per_execution)
            for execution_id in executions))
        await eventually(lambda: not pending_events(outbox_url), timeout_s=20, what="every event to be published")

    total = len(executions) * events_per_execution
    assert sum(relay.stats.published for relay in relays) == total, "no event was published twice"
    assert all(relay.stats.published > 0 for relay in relays), "both relays took part"
    assert sum(relay.stats.duplicates for relay in relays) == 0
    streamed = await read_stream(private_nats.url, expected=total)
    assert len(streamed) == total
    assert len({event.msg_id for event in streamed}) == total
    by_execution: dict[str, list[str]] = defaultdict(list)
    for event in streamed:
        by_execution[event.execution_id].append(event.msg_id)
    assert {str(execution_id): ids for execution_id, ids in zip(executions, written, strict=True)} == by_execution


async def test_an_execution_claimed_by_another_relay_is_skipped_not_overtaken(outbox_url, private_nats):
    held, free = uuid.uuid4(), uuid.uuid4()
    held_ids = await asyncio.to_thread(write_events, outbox_url, held, 3)
    free_ids = await asyncio.to_thread(write_events, outbox_url, free, 3)
    async with relay_for(outbox_url, private_nats.url) as relay:
        async with await psycopg.AsyncConnection.connect(outbox_url) as other_relay:
            # Another relay's open batch: it claimed only the first event of ``held``.
            claimed = await (await other_relay.execute(CLAIM_SQL, {"limit": 1})).fetchall()
            assert [row[1] for row in claimed] == held_ids[:1]
            assert await relay.publish_pending() == 3  # only ``free``'s events
            await other_relay.rollback()
        assert await relay.publish_pending() == 3

    streamed = await read_stream(private_nats.url, expected=6)
    assert [event.msg_id for event in streamed] == free_ids + held_ids


async def test_an_event_the_broker_refuses_holds_back_only_its_own_execution(outbox_url, private_nats):
    stuck, other = uuid.uuid4(), uuid.uuid4()
    too_big = {"blob": "x" * 1_100_000}  # above nats-server's default 1 MiB max_payload
    refused = await asyncio.to_thread(write_events, outbox_url, stuck, 1, extra=too_big)
    behind = await asyncio.to_thread(write_events, outbox_url, stuck, 1, first_sequence=1)
    flowing = await asyncio.to_thread(write_events, outbox_url, other, 2)
    async with relay_for(outbox_url, private_nats.url) as relay:
        assert await relay.publish_pending() == 2

    waiting = pending_events(outbox_url)
    assert [row["event_id"] for row in waiting] == refused + behind
    assert waiting[0]["attempts"] >= 1 and "MaxPayload" in waiting[0]["last_error"]
    assert waiting[1]["attempts"] == 0, "the event behind the refused one was not even tried"
    streamed = await read_stream(private_nats.url, expected=2)
    assert [event.msg_id for event in streamed] == flowing


async def test_relay_wakes_on_notify_without_waiting_for_its_poll(outbox_url, private_nats):
    async with relay_for(outbox_url, private_nats.url, poll_interval_s=60) as relay, running(relay.run):
        await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1)
        await eventually(lambda: not pending_events(outbox_url), timeout_s=10, what="the relay to be up")
        await asyncio.sleep(0.3)  # its start-up passes are over; from now on only a NOTIFY can wake it
        started = time.monotonic()
        await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1)
        await eventually(lambda: not pending_events(outbox_url), timeout_s=5, what="the event to be published")
        assert time.monotonic() - started < 2.0


async def test_stream_is_created_with_a_long_duplicate_window(outbox_url, private_nats):
    await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1)
    async with relay_for(outbox_url, private_nats.url) as relay:
        await relay.publish_pending()
    nc = await nats.connect(private_nats.url)
    try:
        config = (await nc.jetstream().stream_info("ETL_EVENTS")).config
    finally:
        await nc.close()
    assert config.subjects == ["etl.events.>"]
    assert config.duplicate_window >= 600
