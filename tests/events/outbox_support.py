"""Helpers of the event tests: write outbox events as the execution store does, read them back from JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import nats
import psycopg
from nats.js.api import DeliverPolicy
from psycopg.rows import dict_row

from etl_orchestrator.db.engine import sync_engine
from etl_orchestrator.domain.events import EventType
from etl_orchestrator.events.outbox import enqueue_event
from tests.support import Tenant, create_tenant


def write_events(database_url: str, execution_id: UUID, count: int, *, first_sequence: int = 0,
                 event_type: EventType = EventType.LAYER_COMPLETED, pipeline_id: UUID | None = None,
                 org_id: int | None = None, extra: dict[str, Any] | None = None) -> list[str]:
    """``count`` events of one execution, each in its own transaction (like state changes); their ids."""
    engine = sync_engine(database_url, 2)
    event_ids = []
    for sequence in range(first_sequence, first_sequence + count):
        with engine.begin() as conn:
            event_ids.append(str(enqueue_event(conn, event_type, org_id=org_id, pipeline_id=pipeline_id,
                                               execution_id=execution_id,
                                               data={"sequence": sequence, **(extra or {})})))
    return event_ids


def pending_events(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn, conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute("SELECT id, event_id::text, attempts, last_error FROM event_outbox "
                       "WHERE published_at IS NULL ORDER BY id")
        return cursor.fetchall()


@dataclass(frozen=True)
class StreamedEvent:
    sequence: int
    subject: str
    msg_id: str
    event: dict[str, Any]

    @property
    def execution_id(self) -> str:
        return self.event["data"]["execution_id"]


async def read_stream(nats_url: str, *, expected: int, stream: str = "ETL_EVENTS", subjects: str = "etl.events.>",
                      timeout_s: float = 10.0, settle_s: float = 0.3) -> list[StreamedEvent]:
    """Everything a fresh JetStream consumer receives: ``expected`` messages, then ``settle_s`` more for extras."""
    nc = await nats.connect(nats_url)
    received: list[StreamedEvent] = []
    try:
        sub = await nc.jetstream().subscribe(subjects, stream=stream, ordered_consumer=True,
                                             deliver_policy=DeliverPolicy.ALL)
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic() if len(received) < expected else settle_s
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                break
            received.append(StreamedEvent(sequence=msg.metadata.sequence.stream, subject=msg.subject,
                                          msg_id=(msg.headers or {}).get("Nats-Msg-Id", ""),
                                          event=json.loads(msg.data)))
        await sub.unsubscribe()
    finally:
        await nc.close()
    return received


async def stream_message_count(nats_url: str, stream: str = "ETL_EVENTS") -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def running(*services: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[None]:
    """Run ``service(stop)`` tasks (a relay's or dispatcher's ``run``) for the block, then stop them in order."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(service(stop)) for service in services]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*(asyncio.wait_for(task, 10) for task in tasks))


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout_s: float, what: str,
                     interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


async def tenant_with_webhook(database_url: str, url: str | None, secret: str | None) -> Tenant:
    tenant = await create_tenant(database_url, source_config={})
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE pipelines SET webhook_url = %s, webhook_secret = %s WHERE id = %s",
                     (url, secret, tenant.pipeline_id))
    return tenant
