"""``events tail``: what it prints, filtered by type, from the start or from now on."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

from etl_orchestrator.config import NatsSettings, Settings
from etl_orchestrator.domain.events import EventType
from etl_orchestrator.events.relay import OutboxRelay
from etl_orchestrator.events.tail import tail
from tests.events.outbox_support import write_events


async def publish(outbox_url: str, nats_url: str, execution_id: uuid.UUID, event_type: EventType,
                  count: int = 1) -> list[str]:
    event_ids = await asyncio.to_thread(write_events, outbox_url, execution_id, count, event_type=event_type,
                                        extra={"layer": "bronze"})
    async with OutboxRelay(outbox_url, nats_url) as relay:
        await relay.publish_pending()
    return event_ids


async def test_tail_from_start_prints_only_the_wanted_types_as_raw_json(outbox_url, private_nats):
    execution_id = uuid.uuid4()
    started = await publish(outbox_url, private_nats.url, execution_id, EventType.EXECUTION_STARTED)
    await publish(outbox_url, private_nats.url, execution_id, EventType.LAYER_COMPLETED, count=3)
    completed = await publish(outbox_url, private_nats.url, execution_id, EventType.EXECUTION_COMPLETED)
    out = io.StringIO()
    settings = Settings(nats=NatsSettings(url=private_nats.url))

    printed = await asyncio.wait_for(
        tail(settings, ["execution.*"], as_json=True, from_start=True, out=out, limit=2), 10)

    assert printed == 2
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(event["id"], event["type"]) for event in events] == [
        (started[0], "execution.started"), (completed[0], "execution.completed")]


async def test_tail_follows_new_events_as_one_readable_line_each(outbox_url, private_nats):
    execution_id = uuid.uuid4()
    await publish(outbox_url, private_nats.url, execution_id, EventType.EXECUTION_STARTED)  # before: not shown
    out = io.StringIO()
    settings = Settings(nats=NatsSettings(url=private_nats.url))
    following = asyncio.create_task(tail(settings, None, as_json=False, from_start=False, out=out, limit=1))
    await asyncio.sleep(0.5)  # the consumer starts "from now"
    await publish(outbox_url, private_nats.url, execution_id, EventType.LAYER_COMPLETED)

    assert await asyncio.wait_for(following, 10) == 1
    [line] = out.getvalue().splitlines()
    assert "layer.completed" in line
    assert f"exec {str(execution_id)[:8]}" in line
    assert "layer=bronze" in line and "sequence=0" in line
    assert "execution.started" not in out.getvalue()
