"""The NATS JetStream side of the events: connection, the ``ETL_EVENTS`` stream, publishing.

This module is the one boundary where nats-py exceptions enter: ``translate_nats_errors`` turns
them into ``BrokerUnavailable`` (transient: wait, nothing is lost) or ``BrokerRejected`` (this one
message can never be published). The relay, the webhook dispatcher and ``events tail`` all
connect through ``JetStreamBroker``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from etl_orchestrator.config import NatsSettings
from etl_orchestrator.events.errors import BrokerRejected, BrokerUnavailable

log = structlog.get_logger(__name__)

# Everything that means "the broker is not there right now" rather than "this message is wrong".
# OSError covers refused connections; builtin TimeoutError covers nats' and asyncio's timeouts.
TRANSIENT_NATS_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.SlowConsumerError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.TooManyStalledMsgsError,
    nats.js.errors.ConsumerSequenceMismatchError,
)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # some nats errors format attributes that may be missing
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def translate_nats_errors(action: str, **context: object) -> Iterator[None]:
    """Re-raise nats-py errors as the project's own, naming what was being done."""
    try:
        yield
    except TRANSIENT_NATS_ERRORS as exc:
        raise BrokerUnavailable(f"NATS {action} failed: {_describe(exc)}", **context) from exc
    except nats.errors.Error as exc:
        raise BrokerRejected(f"NATS {action} refused: {_describe(exc)}", **context) from exc


@dataclass(frozen=True)
class StreamSpec:
    """The JetStream stream the events go to, and how long the broker remembers what it saw."""

    name: str = "ETL_EVENTS"
    subject_prefix: str = "etl.events"
    # A re-published event (same Nats-Msg-Id) within this window is dropped by the broker. It must
    # outlast the longest time a relay can take between publishing and marking (a crash + restart).
    duplicate_window_s: float = 3600.0
    max_age_s: float = 7 * 86400.0

    @classmethod
    def from_settings(cls, settings: NatsSettings) -> StreamSpec:
        return cls(name=settings.stream, subject_prefix=settings.subject_prefix)

    @property
    def all_subjects(self) -> str:
        return f"{self.subject_prefix}.>"

    def subject_for(self, event_type: str) -> str:
        return f"{self.subject_prefix}.{event_type}"

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name, subjects=[self.all_subjects], storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window_s, max_age=self.max_age_s,
        )


async def _quiet_error(exc: Exception) -> None:
    # nats-py reports every failed reconnect attempt here; the outage is logged once by the caller.
    log.debug("nats client error", error=repr(exc))


class JetStreamBroker:
    """A lazily connected JetStream client that keeps reconnecting on its own once connected."""

    def __init__(self, url: str, stream: StreamSpec | None = None, *, connect_timeout_s: float = 3.0,
                 publish_timeout_s: float = 5.0, client_name: str = "etl-orchestrator") -> None:
        self.url = url
        self.stream = stream or StreamSpec()
        self.connect_timeout_s = connect_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.client_name = client_name
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False

    async def __aenter__(self) -> JetStreamBroker:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> JetStreamContext:
        """Connect (once) and make sure the stream exists; raise BrokerUnavailable if NATS is down."""
        if self._nc is None or self._nc.is_closed:
            self._nc, self._js = await self._open(), None
        if self._js is None:
            self._js = self._nc.jetstream(timeout=self.publish_timeout_s)
        if not self._stream_ready:
            await self._ensure_stream(self._js)
            self._stream_ready = True
        return self._js

    async def _open(self) -> NatsClient:
        client = NatsClient()
        try:
            with translate_nats_errors("connect", url=self.url):
                # Reconnect forever once connected: an outage is waited out, never fatal. The
                # first connect is bounded here instead, so a caller can back off and try again.
                await asyncio.wait_for(client.connect(
                    self.url, name=self.client_name, allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5, connect_timeout=self.connect_timeout_s, error_cb=_quiet_error,
                    disconnected_cb=self._on_disconnected, reconnected_cb=self._on_reconnected,
                ), timeout=self.connect_timeout_s * 2)
        except BaseException:
            with contextlib.suppress(Exception):
                await client.close()
            raise
        return client

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # not our own close()
            log.warning("nats disconnected", url=self.url)

    async def _on_reconnected(self) -> None:
        log.info("nats reconnected", url=self.url)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = self.stream.config()
        with translate_nats_errors("create stream", stream=self.stream.name):
            try:
                await js.add_stream(config)
                return
            except nats.js.errors.BadRequestError:
                pass  # it exists with another configuration: bring it to ours below
            try:
                await js.update_stream(config)
            except nats.js.errors.APIError as exc:
                # An immutable field differs (e.g. storage); the existing stream still carries events.
                log.warning("stream exists with a configuration that cannot be updated",
                            stream=self.stream.name, error=str(exc))

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise BrokerUnavailable("not connected to NATS", url=self.url)
        return self._js

    async def publish(self, event_type: str, body: bytes, *, event_id: str) -> bool:
        """Publish one event and wait for the stream's ack; True when the broker saw it before."""
        js = await self.connect()
        subject = self.stream.subject_for(event_type)
        try:
            with translate_nats_errors("publish", subject=subject, event_id=event_id):
                ack = await js.publish(subject, body, timeout=self.publish_timeout_s, stream=self.stream.name,
                                       headers={"Nats-Msg-Id": event_id})
        except BrokerUnavailable as exc:
            if isinstance(exc.__cause__, nats.errors.NoRespondersError):
                self._stream_ready = False  # nobody stores the subject: the stream was lost, recreate it
            raise
        return bool(ack.duplicate)

    async def durable_consumer(self, durable: str, *, ack_wait_s: float,
                               max_deliver: int) -> JetStreamContext.PullSubscription:
        """Bind to (creating if new) a durable pull consumer of every event of the stream.

        A new consumer starts at the beginning of the stream, so nothing published before its
        first start is missed; afterwards JetStream remembers where it is.
        """
        js = await self.connect()
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s,
                                max_deliver=max_deliver, deliver_policy=DeliverPolicy.ALL,
                                filter_subject=self.stream.all_subjects)
        with translate_nats_errors("create consumer", consumer=durable):
            return await js.pull_subscribe(self.stream.all_subjects, durable=durable, stream=self.stream.name,
                                           config=config)

    async def close(self) -> None:
        client, self._nc, self._js, self._stream_ready = self._nc, None, None, False
        if client is not None and not client.is_closed:
            with contextlib.suppress(Exception):
                await client.close()


async def fetch(subscription: JetStreamContext.PullSubscription, batch: int, timeout_s: float) -> list[Msg]:
    """Up to ``batch`` messages of a pull consumer; an empty list when none came within ``timeout_s``."""
    with translate_nats_errors("fetch"):
        try:
            return await subscription.fetch(batch, timeout=timeout_s)
        except nats.errors.TimeoutError:
            return []
