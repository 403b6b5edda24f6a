"""The feed of execution changes: one ``LISTEN etl_execution`` connection per process, fanned out.

A trigger on ``etl_executions`` NOTIFYs ``{"id", "org_id", "status", "layer"}`` on every insert or
update, whoever made it (a worker, another API replica), and PostgreSQL delivers it to every
listener once the change commits. Each process keeps one listening connection however many clients
watch, and wakes the subscribers of the execution that changed. Subscribers re-read the row rather
than trust the payload, so a coalesced or missed notification costs nothing but latency: after a
reconnect every subscriber is woken, in case something changed while nobody was listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from uuid import UUID

import psycopg
import structlog

CHANNEL = "etl_execution"
CONNECT_TIMEOUT_S = 5
MAX_BACKOFF_S = 5.0

log = structlog.get_logger(__name__)


class Subscription:
    """Woken when its execution changed; several changes before the next wait fold into one wake-up."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    def reset(self) -> None:
        """Call before reading the state, so a change during the read wakes the next wait."""
        self._changed.clear()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken by a change, False when ``timeout_s`` passed without one."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True


class ExecutionFeed:
    def __init__(self, conninfo: str, *, channel: str = CHANNEL) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self._subscribers: dict[UUID, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, execution_id: UUID) -> AsyncIterator[Subscription]:
        """Changes of one execution for as long as the block runs (starts listening on first use)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="execution-feed")
        subscription = Subscription()
        self._subscribers.setdefault(execution_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(execution_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[execution_id]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _dispatch(self, payload: str) -> None:
        try:
            execution_id = UUID(json.loads(payload)["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("execution feed: unreadable notification", payload=payload[:200])
            return
        for subscription in self._subscribers.get(execution_id, ()):
            subscription.notify()

    def _wake_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.notify()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                        application_name=f"etl-api-execution-feed:{os.getpid()}") as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self.connected.set()
                    failures = 0
                    self._wake_all()
                    async for notification in conn.notifies():
                        self._dispatch(notification.payload)
            except psycopg.Error as exc:
                self.connected.clear()
                failures += 1
                log.warning("execution feed lost its connection", error=str(exc), failures=failures)
                self._wake_all()  # watchers fall back to re-reading while we reconnect
                await asyncio.sleep(min(MAX_BACKOFF_S, 0.2 * 2 ** (failures - 1)))
