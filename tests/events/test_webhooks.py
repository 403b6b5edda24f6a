"""Webhooks end to end: outbox → relay → JetStream → dispatcher → a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg

from etl_orchestrator.db.engine import to_libpq_url
from etl_orchestrator.events.relay import OutboxRelay
from etl_orchestrator.events.webhooks import (
    SIGNATURE_HEADER,
    WebhookDispatcher,
    load_targets,
    sign,
    verify_signature,
)
from tests.events.outbox_support import eventually, running, tenant_with_webhook, write_events
from tests.support import Tenant


def deliveries_of(database_url: str, tenant: Tenant) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT event_id::text, attempt, status_code, success, error, org_id "
                            "FROM webhook_deliveries WHERE pipeline_id = %s ORDER BY id",
                            (tenant.pipeline_id,)).fetchall()


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = b"The quick brown fox jumps over the lazy dog"  # the RFC 4231-style test vector of HMAC-SHA256
    assert sign("key", body) == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert verify_signature("key", body, sign("key", body))
    assert not verify_signature("other", body, sign("key", body))
    assert not verify_signature("key", body + b" ", sign("key", body))
    assert not verify_signature("key", body, None)


async def test_webhook_is_signed_retried_after_a_500_and_every_attempt_is_logged(outbox_url, private_nats, receiver):
    flaky = await tenant_with_webhook(outbox_url, receiver.url("/flaky"), "s3cret")
    gone = await tenant_with_webhook(outbox_url, receiver.url("/gone"), "other-secret")
    silent = await tenant_with_webhook(outbox_url, None, None)
    receiver.scripts = {"/flaky": [500], "/gone": [410, 410, 410]}
    [flaky_event] = await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1,
                                            pipeline_id=uuid.UUID(flaky.pipeline_id), org_id=flaky.org_id)
    [gone_event] = await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1,
                                           pipeline_id=uuid.UUID(gone.pipeline_id), org_id=gone.org_id)
    await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 1, pipeline_id=uuid.UUID(silent.pipeline_id),
                            org_id=silent.org_id)

    relay = OutboxRelay(outbox_url, private_nats.url, poll_interval_s=0.2)
    dispatcher = WebhookDispatcher(outbox_url, private_nats.url, initial_backoff_s=0.2, request_timeout_s=5)
    async with running(relay.run, dispatcher.run):
        await eventually(lambda: len(receiver.requests_to("/flaky")) >= 2 and receiver.requests_to("/gone"),
                         timeout_s=15, what="the retried delivery")
        await asyncio.sleep(0.6)  # three backoff periods: a (wrong) retry of /gone would have come by now

    flaky_requests = receiver.requests_to("/flaky")
    assert len(flaky_requests) == 2
    for attempt, (headers, body) in enumerate(flaky_requests, start=1):
        assert verify_signature("s3cret", body, headers[SIGNATURE_HEADER])
        assert headers["X-ETL-Event-Id"] == flaky_event == json.loads(body)["id"]
        assert headers["X-ETL-Event-Type"] == "layer.completed"
        assert headers["X-ETL-Delivery-Attempt"] == str(attempt)
        assert headers["Content-Type"] == "application/cloudevents+json"
    assert flaky_requests[0][1] == flaky_requests[1][1], "a retry sends the very same bytes"
    assert deliveries_of(outbox_url, flaky) == [
        (flaky_event, 1, 500, False, "HTTP 500", flaky.org_id),
        (flaky_event, 2, 200, True, None, flaky.org_id),
    ]
    assert len(receiver.requests_to("/gone")) == 1, "a 410 is not retried"
    assert deliveries_of(outbox_url, gone) == [(gone_event, 1, 410, False, "HTTP 410", gone.org_id)]
    assert deliveries_of(outbox_url, silent) == []


async def test_dispatcher_restarted_resumes_where_its_durable_consumer_left_off(outbox_url, private_nats, receiver):
    tenant = await tenant_with_webhook(outbox_url, receiver.url("/hook"), "s3cret")
    pipeline_id = uuid.UUID(tenant.pipeline_id)
    relay = OutboxRelay(outbox_url, private_nats.url, poll_interval_s=0.2)
    async with running(relay.run):
        first = await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 2, pipeline_id=pipeline_id,
                                        org_id=tenant.org_id)
        async with running(WebhookDispatcher(outbox_url, private_nats.url).run):
            await eventually(lambda: len(receiver.requests_to("/hook")) == 2, timeout_s=10,
                             what="the first deliveries")

        # Published while no dispatcher runs: delivered by the next one, and nothing twice.
        second = await asyncio.to_thread(write_events, outbox_url, uuid.uuid4(), 2, first_sequence=2,
                                         pipeline_id=pipeline_id, org_id=tenant.org_id)
        async with running(WebhookDispatcher(outbox_url, private_nats.url).run):
            await eventually(lambda: len(receiver.requests_to("/hook")) == 4, timeout_s=10,
                             what="the later deliveries")
            await asyncio.sleep(0.3)
    delivered = [headers["X-ETL-Event-Id"] for headers, _ in receiver.requests_to("/hook")]
    assert sorted(delivered) == sorted(first + second)


async def test_a_batch_looks_up_only_the_pipelines_that_have_a_webhook(outbox_url, receiver):
    hooked = await tenant_with_webhook(outbox_url, receiver.url("/a"), "s3cret")
    unsigned = await tenant_with_webhook(outbox_url, receiver.url("/b"), None)
    silent = await tenant_with_webhook(outbox_url, None, None)
    async with await psycopg.AsyncConnection.connect(to_libpq_url(outbox_url), autocommit=True) as conn:
        targets = await load_targets(conn, [uuid.UUID(tenant.pipeline_id) for tenant in (hooked, unsigned, silent)]
                                     + [uuid.uuid4()])
        assert await load_targets(conn, []) == {}
    found = {str(pipeline_id): (target.url, target.secret, target.org_id) for pipeline_id, target in targets.items()}
    assert found == {
        hooked.pipeline_id: (receiver.url("/a"), "s3cret", hooked.org_id),
        unsigned.pipeline_id: (receiver.url("/b"), None, unsigned.org_id),
    }
