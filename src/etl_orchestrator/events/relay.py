"""The outbox relay: publish committed ``event_outbox`` rows to JetStream, at least once, in order per execution.

How a batch is claimed, and why several relays may run at once:

- One PostgreSQL transaction per batch stays open until its events are published and marked.
  Scanning pending rows in id order, it takes a transaction-level advisory lock on each row's
  *ordering key* (its execution, else its pipeline) with ``pg_try_advisory_xact_lock`` and locks
  the row ``FOR UPDATE SKIP LOCKED``. A relay that cannot get an execution's advisory lock skips
  *every* row of that execution, so no relay can publish a later event of an execution while
  another still holds an earlier one. Different executions flow through different relays.
- Writers of one execution are serialised by the execution row's lock (``db/execution_store.py``),
  so within an execution id order is commit order.
- Rows are marked ``published_at`` after the broker's ack, in the claiming transaction. A relay
  that dies mid-batch leaves them unmarked and unlocked; the next claimer re-publishes them and
  the broker drops the copies it already has (``Nats-Msg-Id`` within the duplicate window).
- A row another relay marked after our snapshot was taken is re-checked by ``FOR UPDATE``
  (READ COMMITTED re-evaluates ``published_at IS NULL`` on the newest row version) and skipped.

NATS down: publishing fails, the failure is recorded on the row (``attempts``, ``last_error``), the
relay backs off and tries again; writers never notice (they only write PostgreSQL). The relay wakes
on ``NOTIFY etl_outbox`` (sent by the outbox's insert trigger at commit) and polls as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog

from etl_orchestrator.config import Settings
from etl_orchestrator.db.engine import to_libpq_url
from etl_orchestrator.events.broker import JetStreamBroker, StreamSpec
from etl_orchestrator.events.errors import BrokerRejected, BrokerUnavailable, OutboxUnavailable
from etl_orchestrator.events.kept import CONNECT_TIMEOUT_S, KeptConnection
from etl_orchestrator.events.outbox import OUTBOX_CHANNEL
from etl_orchestrator.events.waiting import exponential_backoff, wait_for_any
from etl_orchestrator.observability import metrics

log = structlog.get_logger(__name__)

# First key of the two-key advisory locks taken here ("ETL" in ASCII), so they cannot collide
# with advisory locks other code takes on single keys or in another space.
ADVISORY_LOCK_SPACE = 0x45544C
ORDERING_KEY = "coalesce(execution_id::text, pipeline_id::text, '')"
CLAIM_SQL = f"""
    SELECT id, event_id::text, event_type, payload::text, {ORDERING_KEY}, attempts
    FROM event_outbox
    WHERE published_at IS NULL
      AND pg_try_advisory_xact_lock({ADVISORY_LOCK_SPACE}, hashtext({ORDERING_KEY}))
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""
MARK_PUBLISHED_SQL = """
    UPDATE event_outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
    WHERE id = ANY(%(ids)s)
"""
MARK_FAILED_SQL = "UPDATE event_outbox SET attempts = attempts + 1, last_error = %(error)s WHERE id = %(id)s"
LAG_SQL = """
    SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
    FROM event_outbox WHERE published_at IS NULL
"""
LAG_EVERY_S = 1.0


@dataclass(frozen=True)
class OutboxEvent:
    """One claimed outbox row, as it goes on the wire."""

    id: int
    event_id: str
    event_type: str
    body: bytes
    ordering_key: str
    attempts: int


@dataclass
class RelayStats:
    """What this relay did since it started (tests and benchmarks read it)."""

    published: int = 0
    duplicates: int = 0
    failures: int = 0


@dataclass
class _BatchOutcome:
    published: list[OutboxEvent] = field(default_factory=list)
    duplicates: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    unavailable: BrokerUnavailable | None = None


@contextlib.contextmanager
def translate_database_errors(action: str) -> Iterator[None]:
    """The one boundary where psycopg's connection errors enter the relay."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise OutboxUnavailable(f"outbox {action} failed: {exc}".strip()) from exc


class OutboxRelay:
    """Publishes pending outbox rows; ``publish_pending`` for one pass, ``run`` to keep at it."""

    def __init__(self, database_url: str, nats_url: str, *, stream: str = "ETL_EVENTS",
                 subject_prefix: str = "etl.events", batch_size: int = 100, poll_interval_s: float = 1.0,
                 max_backoff_s: float = 10.0, publish_timeout_s: float = 5.0,
                 duplicate_window_s: float = StreamSpec.duplicate_window_s) -> None:
        self.conninfo = to_libpq_url(database_url)
        self.broker = JetStreamBroker(
            nats_url, StreamSpec(name=stream, subject_prefix=subject_prefix, duplicate_window_s=duplicate_window_s),
            publish_timeout_s=publish_timeout_s, client_name="etl-outbox-relay")
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.stats = RelayStats()
        self._kept = KeptConnection(self.conninfo, application_name="etl-outbox-relay")
        self._wake = asyncio.Event()
        self._lag_observed_at = 0.0

    async def __aenter__(self) -> OutboxRelay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> OutboxRelay:
        return cls(settings.database.url, settings.nats.url, stream=settings.nats.stream,
                   subject_prefix=settings.nats.subject_prefix, **overrides)

    # ------------------------------------------------------------------------------------ one pass

    async def publish_pending(self) -> int:
        """Publish every pending event this relay can claim now; return how many the broker acked.

        Raise ``BrokerUnavailable`` or ``OutboxUnavailable`` once what could be recorded is
        recorded; the events that were not published stay pending.
        """
        total = 0
        while True:
            acked, claimed = await self.publish_batch()
            total += acked
            if claimed == 0 or acked == 0:
                # Nothing left, or only events held back behind one the broker refuses: stop
                # rather than spin on them; the next pass (NOTIFY or poll) tries them again.
                return total

    async def publish_batch(self) -> tuple[int, int]:
        """Claim, publish and mark one batch; return (events acked, events claimed)."""
        # Connect before claiming: while NATS is unreachable no row is claimed or charged an attempt.
        await self.broker.connect()
        async with self._transaction() as conn:
            events = await self._claim(conn)
            if not events:
                return 0, 0
            outcome = await self._publish_in_order(events)
            await self._mark(conn, outcome)
        self.stats.published += len(outcome.published)
        self.stats.duplicates += outcome.duplicates
        metrics.record_outbox_published(len(outcome.published), outcome.duplicates)
        if outcome.unavailable is not None:
            raise outcome.unavailable
        return len(outcome.published), len(events)

    async def _claim(self, conn: psycopg.AsyncConnection) -> list[OutboxEvent]:
        with translate_database_errors("claim"):
            cursor = await conn.execute(CLAIM_SQL, {"limit": self.batch_size})
            rows = await cursor.fetchall()
        return [OutboxEvent(id=row[0], event_id=row[1], event_type=row[2], body=row[3].encode(),
                            ordering_key=row[4], attempts=row[5]) for row in rows]

    async def _publish_in_order(self, events: list[OutboxEvent]) -> _BatchOutcome:
        outcome = _BatchOutcome()
        held_back: set[str] = set()  # ordering keys with a failed event: their later events must wait
        for event in events:
            if event.ordering_key in held_back:
                continue
            try:
                duplicate = await self._publish(event)
            except BrokerUnavailable as exc:
                # The broker is gone for everyone: stop here, keep what was acked.
                outcome.failed[event.id], outcome.unavailable = str(exc), exc
                break
            except BrokerRejected as exc:
                # Only this event is wrong: hold back its execution, carry on with the others.
                outcome.failed[event.id] = str(exc)
                held_back.add(event.ordering_key)
                # Logged loudly once; every pass retries it (quietly) until someone fixes the row.
                (log.error if event.attempts == 0 else log.debug)(
                    "event rejected by the broker; later events of its execution wait behind it",
                    event_id=event.event_id, event_type=event.event_type, ordering_key=event.ordering_key,
                    error=str(exc))
                continue
            outcome.published.append(event)
            outcome.duplicates += duplicate
        self.stats.failures += len(outcome.failed)
        for _ in outcome.failed:
            metrics.record_outbox_failure()
        return outcome

    async def _publish(self, event: OutboxEvent) -> bool:
        """Publish one event; True when the broker had it already. (Tests override this to crash mid-batch.)"""
        return await self.broker.publish(event.event_type, event.body, event_id=event.event_id)

    async def _mark(self, conn: psycopg.AsyncConnection, outcome: _BatchOutcome) -> None:
        with translate_database_errors("mark"):
            if outcome.published:
                await conn.execute(MARK_PUBLISHED_SQL, {"ids": [event.id for event in outcome.published]})
            for event_id, error in outcome.failed.items():
                await conn.execute(MARK_FAILED_SQL, {"id": event_id, "error": error[:2000]})

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        conn = await self._connection()
        try:
            with translate_database_errors("transaction"):
                async with conn.transaction():
                    yield conn
        except OutboxUnavailable:
            await self._drop_connection()
            raise

    async def _connection(self) -> psycopg.AsyncConnection:
        with translate_database_errors("connect"):
            return await self._kept.get()

    async def _drop_connection(self) -> None:
        await self._kept.drop()

    async def close(self) -> None:
        await self._drop_connection()
        await self.broker.close()

    # ------------------------------------------------------------------------------------ forever

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set: on every NOTIFY, every ``poll_interval_s``, backing off on failure."""
        listener = asyncio.create_task(self._listen(stop), name="outbox-relay-listen")
        failures = 0
        try:
            while not stop.is_set():
                self._wake.clear()  # before the pass: a commit during the pass wakes the next one
                try:
                    await self.publish_pending()
                except (BrokerUnavailable, OutboxUnavailable) as exc:
                    failures += 1
                    delay_s = exponential_backoff(failures, initial_s=0.2, maximum_s=self.max_backoff_s)
                    if failures == 1 or failures % 30 == 0:
                        log.warning("outbox relay waiting for its dependencies", error=str(exc),
                                    consecutive_failures=failures, retry_in_s=round(delay_s, 2))
                    await self._observe_lag()
                    await wait_for_any(stop, timeout_s=delay_s)  # not the wake-up: back off for real
                    continue
                if failures:
                    log.info("outbox relay recovered", after_failures=failures)
                    failures = 0
                await self._observe_lag()
                await wait_for_any(stop, self._wake, timeout_s=self.poll_interval_s)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self.close()

    async def _listen(self, stop: asyncio.Event) -> None:
        """Set the wake-up event on every NOTIFY; reconnect (and wake, in case one was missed) on loss."""
        failures = 0
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                        application_name="etl-outbox-listen") as conn:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    failures = 0
                    self._wake.set()
                    async for _ in conn.notifies():
                        self._wake.set()
            except psycopg.Error as exc:
                failures += 1
                log.debug("outbox listener lost its connection", error=str(exc))
                await wait_for_any(stop, timeout_s=exponential_backoff(failures, initial_s=0.2,
                                                                       maximum_s=self.max_backoff_s))

    async def _observe_lag(self) -> None:
        """Export the backlog (pending count, age of the oldest), at most once a second."""
        now = time.monotonic()
        if now - self._lag_observed_at < LAG_EVERY_S:
            return
        self._lag_observed_at = now
        with contextlib.suppress(OutboxUnavailable):
            conn = await self._connection()
            with translate_database_errors("lag"):
                cursor = await conn.execute(LAG_SQL)
                pending, oldest_age_s = await cursor.fetchone() or (0, 0.0)
            metrics.observe_outbox(pending, oldest_age_s)


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
    """Run one relay until ``stop`` is set (the worker runs it beside its Temporal worker)."""
    await OutboxRelay.from_settings(settings).run(stop)
