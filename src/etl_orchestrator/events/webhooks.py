"""Per-pipeline webhooks: each event of a pipeline POSTed to its ``webhook_url``, signed, retried, logged.

How it is driven: a durable JetStream pull consumer (``etl-webhooks``) on the events stream,
run by ``WebhookDispatcher`` beside the relay.

- At least once, restart-safe: a message is acked only when its POST succeeded or was given up;
  a dispatcher that dies mid-delivery leaves it unacked and JetStream redelivers it after ``ack_wait``.
- Retries are JetStream redeliveries: a failed attempt (5xx, 408, 425, 429, timeout, connection
  error) NAKs the message with an exponentially growing delay; the attempt number is the message's
  delivery count. Other 4xx (and 3xx: redirects are not followed) are not retried. After
  ``max_attempts`` the message is terminated.
- Any number of workers may run a dispatcher: JetStream gives each message to one of them.
- A slow or dead receiver delays only its own deliveries, never the relay or other pipelines.

Every attempt is a row of ``webhook_deliveries``. What a receiver gets: the CloudEvent in
structured mode (``Content-Type: application/cloudevents+json``, the same bytes as on the stream),
``X-ETL-Signature: sha256=<hex HMAC-SHA256 of the raw body with the pipeline's webhook_secret>``
(omitted when the pipeline has no secret), ``X-ETL-Event-Id``, ``X-ETL-Event-Type`` and
``X-ETL-Delivery-Attempt``. Deliveries may repeat and arrive out of order: receivers deduplicate
on the event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import psycopg
import structlog
from nats.aio.msg import Msg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from etl_orchestrator import __version__
from etl_orchestrator.config import Settings
from etl_orchestrator.db.engine import make_async_engine, to_libpq_url
from etl_orchestrator.events.broker import JetStreamBroker, StreamSpec, fetch, translate_nats_errors
from etl_orchestrator.events.delivery_log import DeliveryAttempt, record_attempt
from etl_orchestrator.events.errors import BrokerRejected, BrokerUnavailable
from etl_orchestrator.events.kept import KeptConnection
from etl_orchestrator.events.waiting import exponential_backoff, wait_for_any
from etl_orchestrator.observability import metrics

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-ETL-Signature"
CONSUMER_NAME = "etl-webhooks"
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """The value of ``X-ETL-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


@dataclass(frozen=True)
class WebhookTarget:
    pipeline_id: UUID
    org_id: int
    url: str
    secret: str | None


@dataclass(frozen=True)
class PostResult:
    """One POST's outcome: delivered, worth retrying, or not."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retryable: bool

    @property
    def success(self) -> bool:
        return self.error is None


_TARGETS_SQL = ("SELECT id, org_id, webhook_url, webhook_secret FROM pipelines"
                " WHERE id = ANY(%s) AND webhook_url <> ''")


async def load_targets(conn: psycopg.AsyncConnection, pipeline_ids: Iterable[UUID]) -> dict[UUID, WebhookTarget]:
    """The webhooks of those pipelines, in one query; a pipeline without one (or gone) is absent."""
    wanted = list(set(pipeline_ids))
    if not wanted:
        return {}
    cursor = await conn.execute(_TARGETS_SQL, (wanted,), prepare=True)
    return {row[0]: WebhookTarget(pipeline_id=row[0], org_id=row[1], url=row[2], secret=row[3])
            for row in await cursor.fetchall()}


def classify_status(status_code: int) -> tuple[str | None, bool]:
    """(error or None, retryable) of an HTTP answer."""
    if 200 <= status_code < 300:
        return None, False
    retryable = status_code >= 500 or status_code in RETRYABLE_STATUSES
    return f"HTTP {status_code}", retryable


async def post_event(http: httpx.AsyncClient, target: WebhookTarget, body: bytes, *, event_id: str,
                     event_type: str, attempt: int) -> PostResult:
    """POST one event; the one place httpx errors enter (they become a retryable ``PostResult``)."""
    headers = {"Content-Type": "application/cloudevents+json", "X-ETL-Event-Id": event_id,
               "X-ETL-Event-Type": event_type, "X-ETL-Delivery-Attempt": str(attempt)}
    if target.secret:
        headers[SIGNATURE_HEADER] = sign(target.secret, body)
    started = time.monotonic()
    try:
        response = await http.post(target.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        error, status_code, retryable = f"timeout: {type(exc).__name__}", None, True
    except httpx.HTTPError as exc:
        error, status_code, retryable = f"{type(exc).__name__}: {exc}", None, True
    else:
        status_code = response.status_code
        error, retryable = classify_status(status_code)
    return PostResult(status_code=status_code, error=error, retryable=retryable,
                      duration_ms=int((time.monotonic() - started) * 1000))


class WebhookDispatcher:
    """Consumes the events stream durably and delivers each event to its pipeline's webhook."""

    def __init__(self, database_url: str, nats_url: str, *, stream: str = "ETL_EVENTS",
                 subject_prefix: str = "etl.events", consumer: str = CONSUMER_NAME, max_attempts: int = 8,
                 initial_backoff_s: float = 2.0, max_backoff_s: float = 600.0, request_timeout_s: float = 10.0,
                 batch_size: int = 32) -> None:
        self.broker = JetStreamBroker(nats_url, StreamSpec(name=stream, subject_prefix=subject_prefix),
                                      client_name="etl-webhooks")
        self.database_url = database_url
        self.consumer = consumer
        self.max_attempts = max_attempts
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.request_timeout_s = request_timeout_s
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WebhookDispatcher:
        return cls(settings.database.url, settings.nats.url, stream=settings.nats.stream,
                   subject_prefix=settings.nats.subject_prefix, **overrides)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; NATS outages are waited out."""
        engine = make_async_engine(self.database_url, pool_size=2)  # the delivery log
        lookups = KeptConnection(to_libpq_url(self.database_url), application_name="etl-webhooks")
        http = httpx.AsyncClient(timeout=self.request_timeout_s, follow_redirects=False,
                                 headers={"User-Agent": f"etl-orchestrator-webhooks/{__version__}"})
        failures = 0
        try:
            while not stop.is_set():
                try:
                    # The delivery must finish well within ack_wait, or JetStream redelivers it meanwhile.
                    subscription = await self.broker.durable_consumer(
                        self.consumer, ack_wait_s=max(30.0, 3 * self.request_timeout_s),
                        max_deliver=self.max_attempts)
                    failures = 0
                    while not stop.is_set():
                        messages = await fetch(subscription, self.batch_size, timeout_s=1.0)
                        await self._deliver_batch(engine, lookups, http, messages)
                except BrokerUnavailable as exc:
                    failures += 1
                    if failures == 1:
                        log.warning("webhook dispatcher waiting for NATS", error=str(exc))
                    await wait_for_any(stop, timeout_s=exponential_backoff(failures, initial_s=0.2, maximum_s=5.0))
        finally:
            await http.aclose()
            await lookups.drop()
            await engine.dispose()
            await self.broker.close()

    async def _deliver_batch(self, engine: AsyncEngine, lookups: KeptConnection, http: httpx.AsyncClient,
                             messages: list[Msg]) -> None:
        """Deliver a fetched batch concurrently, its pipelines' webhooks read in one query.

        The lookup is per batch, never cached: a webhook set or removed applies from the next batch.
        """
        parsed: list[tuple[Msg, str, str, UUID | None]] = []
        for message in messages:
            try:
                event = json.loads(message.data)
                event_id, event_type = str(UUID(event["id"])), event["type"]
                pipeline_id = (event.get("data") or {}).get("pipeline_id")
                parsed.append((message, event_id, event_type, UUID(pipeline_id) if pipeline_id else None))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.error("not a CloudEvent on the events stream; dropped", error=str(exc), subject=message.subject)
                await self._settle(message, "term")
        try:
            targets = await load_targets(await lookups.get(),
                                         (pipeline_id for *_, pipeline_id in parsed if pipeline_id))
        except (psycopg.Error, OSError) as exc:
            await lookups.drop()
            # Nothing was sent yet: let JetStream bring the events back once PostgreSQL answers again.
            log.warning("webhook target lookup failed; will retry", events=len(parsed), error=str(exc))
            await asyncio.gather(*(self._settle(message, "nak", delay_s=self.initial_backoff_s)
                                   for message, *_ in parsed))
            return
        await asyncio.gather(*(self._deliver(engine, http, message, event_id, event_type,
                                             targets.get(pipeline_id) if pipeline_id else None)
                               for message, event_id, event_type, pipeline_id in parsed))

    async def _deliver(self, engine: AsyncEngine, http: httpx.AsyncClient, message: Msg, event_id: str,
                       event_type: str, target: WebhookTarget | None) -> None:
        attempt = message.metadata.num_delivered
        if target is None:
            await self._settle(message, "ack")
            return
        result = await post_event(http, target, message.data, event_id=event_id, event_type=event_type,
                                  attempt=attempt)
        try:
            await record_attempt(engine, DeliveryAttempt(
                pipeline_id=target.pipeline_id, org_id=target.org_id, event_id=UUID(event_id),
                event_type=event_type, url=target.url, attempt=attempt, status_code=result.status_code,
                success=result.success, error=result.error, duration_ms=result.duration_ms))
        except DBAPIError as exc:
            # The POST happened either way; re-sending it just to log it would be worse than a gap in the log.
            log.error("webhook delivery not logged", event_id=event_id, attempt=attempt, error=str(exc))
        if result.success:
            metrics.record_webhook_delivery("delivered")
            await self._settle(message, "ack")
        elif result.retryable and attempt < self.max_attempts:
            delay_s = exponential_backoff(attempt, initial_s=self.initial_backoff_s, maximum_s=self.max_backoff_s)
            metrics.record_webhook_delivery("retrying")
            log.warning("webhook delivery failed; will retry", pipeline_id=str(target.pipeline_id),
                        event_id=event_id, attempt=attempt, error=result.error, retry_in_s=delay_s)
            await self._settle(message, "nak", delay_s=delay_s)
        else:
            metrics.record_webhook_delivery("failed")
            log.error("webhook delivery given up", pipeline_id=str(target.pipeline_id), event_id=event_id,
                      attempt=attempt, error=result.error)
            await self._settle(message, "term")

    @staticmethod
    async def _settle(message: Msg, verdict: str, delay_s: float | None = None) -> None:
        """Ack, nak or term; if NATS is gone meanwhile, JetStream redelivers later (at least once)."""
        try:
            with translate_nats_errors(verdict):
                if verdict == "ack":
                    await message.ack()
                elif verdict == "nak":
                    await message.nak(delay=delay_s)
                else:
                    await message.term()
        except (BrokerUnavailable, BrokerRejected) as exc:
            log.debug("could not settle a webhook message", verdict=verdict, error=str(exc))


async def run_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """Run one webhook dispatcher until ``stop`` is set (the worker runs it beside the relay)."""
    await WebhookDispatcher.from_settings(settings).run(stop)
