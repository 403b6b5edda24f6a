"""Acceptance: the events of real runs (API + worker processes), as a JetStream consumer receives them.

A relay runs in this test; the worker may run its own as well (several relays are safe), so the
test holds either way. It reads the session's stream from its beginning and keeps the events of
one execution, up to its final one.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import nats.errors
import pytest_asyncio
from nats.js.api import DeliverPolicy

from etl_orchestrator.events.broker import JetStreamBroker, StreamSpec
from etl_orchestrator.events.relay import OutboxRelay
from tests.support import Tenant, create_tenant, wait_for_execution

FINAL_TYPES = ("execution.completed", "execution.failed")
DATE_RANGE = {"start": "2024-12-20", "end": "2024-12-20"}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def relay(stack):
    stop = asyncio.Event()
    running = asyncio.create_task(OutboxRelay.from_settings(stack.settings, poll_interval_s=0.2).run(stop))
    yield
    stop.set()
    await asyncio.wait_for(running, 10)


@pytest_asyncio.fixture(loop_scope="session")
async def client(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        yield client


async def trigger(client: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await client.post("/api/v1/etl/trigger", headers=tenant.headers,
                                 json={"pipeline_id": tenant.pipeline_id, "parameters": {"date_range": DATE_RANGE}})
    assert response.status_code == 200, response.text
    return response.json()["execution_id"]


async def events_of(stack, execution_id: str, *, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The execution's events in stream order, up to and including its final one."""
    stream = StreamSpec.from_settings(stack.settings.nats)
    events: list[dict[str, Any]] = []
    async with JetStreamBroker(stack.settings.nats.url, stream) as broker:
        subscription = await broker.jetstream.subscribe(stream.all_subjects, stream=stream.name,
                                                        ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = await subscription.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                break
            event = json.loads(message.data)
            if event["data"].get("execution_id") != execution_id:
                continue
            assert message.subject == f"{stream.subject_prefix}.{event['type']}"
            assert message.headers["Nats-Msg-Id"] == event["id"]
            events.append(event)
            if event["type"] in FINAL_TYPES:
                return events
    raise AssertionError(f"no final event for {execution_id} within {timeout_s}s; got "
                         f"{[event['type'] for event in events]}")


async def test_a_run_publishes_started_three_layers_and_completed_in_order(stack, relay, client, dsp_sandbox):
    tenant = await create_tenant(stack.settings.database.url,
                                 source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    execution_id = await trigger(client, tenant)

    events = await events_of(stack, execution_id)
    execution = await wait_for_execution(client, tenant, execution_id)
    assert execution["status"] == "completed", execution
    lifecycle = [(event["type"], event["data"].get("layer")) for event in events
                 if event["type"] != "quality.issue_detected"]
    assert lifecycle == [("execution.started", None), ("layer.completed", "bronze"), ("layer.completed", "silver"),
                         ("layer.completed", "gold"), ("execution.completed", None)]
    assert len({event["id"] for event in events}) == len(events), "no event twice"
    for event in events:
        assert event["specversion"] == "1.0" and event["source"] == "etl-orchestrator"
        assert event["data"]["pipeline_id"] == tenant.pipeline_id
        assert event["data"]["org_id"] == tenant.org_id
    assert events[-1]["data"]["status"] == "completed"


async def test_a_run_with_rejected_credentials_ends_with_execution_failed(stack, relay, client, dsp_sandbox):
    tenant = await create_tenant(stack.settings.database.url,
                                 source_config={"base_url": dsp_sandbox.url, "token": "not-the-sandbox-token"})
    execution_id = await trigger(client, tenant)

    events = await events_of(stack, execution_id)
    types = [event["type"] for event in events]
    assert types[-1] == "execution.failed", types
    assert "execution.completed" not in types
    assert not [event for event in events if event["data"].get("layer") == "gold"]
    assert events[-1]["data"]["error"]
    assert (await wait_for_execution(client, tenant, execution_id))["status"] == "failed"


async def test_quarantined_rows_emit_quality_issue_detected(stack, relay, client, dsp_sandbox):
    token = f"{dsp_sandbox.token}.events-quality"  # a fault scope of this test alone
    async with httpx.AsyncClient(base_url=dsp_sandbox.url) as sandbox:
        response = await sandbox.put("/_sandbox/faults", json={
            "token": token, "bad_rows": {"missing_ids": {"count": 5}, "non_numeric": {"count": 5}}})
        assert response.status_code == 200, response.text
    tenant = await create_tenant(stack.settings.database.url,
                                 source_config={"base_url": dsp_sandbox.url, "token": token})
    execution_id = await trigger(client, tenant)

    events = await events_of(stack, execution_id)
    issues = [event for event in events if event["type"] == "quality.issue_detected"]
    assert issues, [event["type"] for event in events]
    assert all(issue["data"]["issue"]["count"] > 0 for issue in issues)
    assert sum(issue["data"]["issue"]["count"] for issue in issues) >= 10
    assert events.index(issues[0]) < len(events) - 1, "issues come before the execution's final event"
