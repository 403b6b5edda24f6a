"""``GET /executions/{id}/stream``: server-sent events driven by PostgreSQL LISTEN/NOTIFY.

The first event is the state now; every change (whoever made it: a worker, the test's own SQL,
another replica) becomes an event; heartbeats are comments; the stream ends after a terminal status.
A second API process proves that any replica streams a run that another one started.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from psycopg.types.json import Json

from etl_orchestrator.client.sse import Comment, Event, SseParser
from etl_orchestrator.db.execution_store import aggregate_layers
from tests.api.conftest import another_api

PREFIX = "/api/v1/etl"


async def stream(client: httpx.AsyncClient, headers: dict[str, str], execution_id: str,
                 **params) -> AsyncIterator[Event | Comment]:
    parser = SseParser()
    async with client.stream("GET", f"{PREFIX}/executions/{execution_id}/stream", headers=headers,
                             params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            item = parser.feed(line)
            if item is not None:
                yield item


async def collect(items: AsyncIterator[Event | Comment], timeout_s: float = 30) -> list[Event]:
    events = []
    async with asyncio.timeout(timeout_s):
        async for item in items:
            if isinstance(item, Event):
                events.append(item)
    return events


def insert_execution(database_url: str, tenant, status: str = "scheduled") -> str:
    execution_id = str(uuid.uuid4())
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO etl_executions (id, pipeline_id, org_id, status, date_start, date_end, result) "
                     "VALUES (%s, %s, %s, %s, '2023-07-01', '2023-07-01', %s)",
                     (execution_id, tenant.pipeline_id, tenant.org_id, status,
                      Json({"layers": aggregate_layers({}, 1), "partitions": {}})))
    return execution_id


def set_row(database_url: str, execution_id: str, **values) -> None:
    assignments = ", ".join(f"{column} = %s" for column in values)
    with psycopg.connect(database_url) as conn:
        conn.execute(f"UPDATE etl_executions SET {assignments} WHERE id = %s", (*values.values(), execution_id))


async def test_a_finished_execution_streams_its_state_then_ends(client, tenant, stack):
    execution_id = insert_execution(stack.settings.database.url, tenant, status="completed")
    events = await collect(stream(client, tenant.headers, execution_id), timeout_s=10)
    assert [event.event for event in events] == ["execution", "end"]
    assert json.loads(events[0].data)["status"] == "completed" and json.loads(events[0].data)["id"] == execution_id
    assert json.loads(events[1].data) == {"status": "completed"}


async def test_changes_made_elsewhere_become_events_with_heartbeats_between(client, tenant, stack):
    url = stack.settings.database.url
    execution_id = insert_execution(url, tenant)
    items = stream(client, tenant.headers, execution_id, heartbeat_s=0.5)
    seen: list[Event | Comment] = []

    async def until(predicate) -> None:
        async with asyncio.timeout(10):
            async for item in items:
                seen.append(item)
                if predicate(item):
                    return

    await until(lambda item: isinstance(item, Event))
    assert json.loads(seen[-1].data)["status"] == "scheduled"
    await until(lambda item: isinstance(item, Comment))  # a heartbeat while nothing changes
    set_row(url, execution_id, status="running", layer="bronze", progress=Json({"records": 500}))
    await until(lambda item: isinstance(item, Event))
    running = json.loads(seen[-1].data)
    assert (running["status"], running["current_layer"], running["progress"]) == ("running", "bronze",
                                                                                   {"records": 500})
    set_row(url, execution_id, progress=Json({"records": 1500}))
    await until(lambda item: isinstance(item, Event))
    assert json.loads(seen[-1].data)["progress"] == {"records": 1500}
    set_row(url, execution_id, status="failed", error="boom")
    rest = await collect(items, timeout_s=10)
    assert [event.event for event in rest] == ["execution", "end"]
    assert json.loads(rest[0].data)["error"] == "boom"
    ids = [int(item.id) for item in seen + rest if isinstance(item, Event)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_stream_of_an_unknown_or_foreign_execution_is_404(client, tenant, other_tenant, stack):
    foreign = insert_execution(stack.settings.database.url, other_tenant)
    for execution_id in (str(uuid.uuid4()), foreign):
        response = await client.get(f"{PREFIX}/executions/{execution_id}/stream", headers=tenant.headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
def second_api(stack):
    """Another API replica on the same database and Temporal."""
    with another_api(stack, "api-2") as replica:
        yield replica


async def test_a_run_triggered_on_one_replica_streams_from_another(client, tenant, stack, second_api):
    process, url = second_api
    triggered = await client.post(f"{PREFIX}/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id, "parameters": {"date_range": {"start": "2024-11-02", "end": "2024-11-03"}}})
    execution_id = triggered.json()["execution_id"]
    async with httpx.AsyncClient(base_url=url, timeout=30) as replica:
        events = await collect(stream(replica, tenant.headers, execution_id), timeout_s=60)
    snapshots = [json.loads(event.data) for event in events if event.event == "execution"]
    statuses = [snapshot["status"] for snapshot in snapshots]
    assert statuses[-1] == "completed" and events[-1].event == "end"
    assert "running" in statuses  # changes made by the worker arrived while it ran
    gold = [snapshot["layer_progress"]["gold"]["done"] for snapshot in snapshots]
    assert gold == sorted(gold) and gold[-1] == 2


async def test_one_listen_connection_serves_every_stream_of_a_replica(tenant, stack, second_api):
    process, url = second_api
    execution_ids = [insert_execution(stack.settings.database.url, tenant) for _ in range(3)]
    async with httpx.AsyncClient(base_url=url, timeout=30) as replica:
        streams = [stream(replica, tenant.headers, execution_id) for execution_id in execution_ids]
        firsts = await asyncio.gather(*(anext(items) for items in streams))
        assert all(isinstance(item, Event) for item in firsts)
        with psycopg.connect(stack.settings.database.url) as conn:
            listeners = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                     (f"etl-api-execution-feed:{process.pid}",)).fetchone()[0]
        assert listeners == 1
        for execution_id in execution_ids:
            set_row(stack.settings.database.url, execution_id, status="cancelled")
        ends = await asyncio.gather(*(collect(items, timeout_s=10) for items in streams))
        assert all([event.event for event in events] == ["execution", "end"] for events in ends)
