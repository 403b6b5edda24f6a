"""The worker's event services: relay and webhooks from settings, and restarts after a crash."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from etl_orchestrator.config import DatabaseSettings, NatsSettings, Settings
from etl_orchestrator.events.service import run_event_services, supervise
from tests.events.outbox_support import (
    eventually,
    pending_events,
    read_stream,
    running,
    tenant_with_webhook,
    write_events,
)


async def test_event_services_publish_and_deliver_from_settings(outbox_url, private_nats, receiver):
    tenant = await tenant_with_webhook(outbox_url, receiver.url("/hook"), "s3cret")
    settings = Settings(database=DatabaseSettings(url=outbox_url), nats=NatsSettings(url=private_nats.url))
    async with running(lambda stop: run_event_services(settings, stop)):
        [event_id] = await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1,
                                             pipeline_id=uuid.UUID(tenant.pipeline_id), org_id=tenant.org_id)
        await eventually(lambda: receiver.requests_to("/hook"), timeout_s=10, what="the webhook delivery")
    assert pending_events(outbox_url) == []
    assert [event.msg_id for event in await read_stream(private_nats.url, expected=1)] == [event_id]
    [(headers, _)] = receiver.requests_to("/hook")
    assert headers["X-ETL-Event-Id"] == event_id
    with psycopg.connect(outbox_url) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_deliveries WHERE success").fetchone() == (1,)


async def test_a_crashed_service_is_restarted_until_stop():
    calls: list[int] = []
    stop = asyncio.Event()

    async def flaky(stop_event: asyncio.Event) -> None:
        calls.append(len(calls))
        if len(calls) < 3:
            raise RuntimeError("boom")
        await stop_event.wait()

    running = asyncio.create_task(supervise("flaky", flaky, stop, initial_backoff_s=0.01))
    async with asyncio.timeout(10):  # generous: logging a traceback is slow on a busy machine
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert calls == [0, 1, 2]  # restarted twice, then left running
    stop.set()
    await asyncio.wait_for(running, 2)
