"""The event services a worker process runs beside its Temporal worker: the outbox relay and the
webhook dispatcher, each restarted (with backoff) if it ever fails unexpectedly.

A crash in event delivery must never take the worker's activities down with it, and must not go
unnoticed: it is logged with its traceback and the service starts again. Outages of NATS or
PostgreSQL are not crashes: the services wait those out themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from etl_orchestrator.config import Settings
from etl_orchestrator.events.relay import run_relay
from etl_orchestrator.events.waiting import exponential_backoff, wait_for_any
from etl_orchestrator.events.webhooks import run_webhooks

log = structlog.get_logger(__name__)

Service = Callable[[asyncio.Event], Awaitable[None]]


async def supervise(name: str, service: Service, stop: asyncio.Event, *, initial_backoff_s: float = 1.0,
                    max_backoff_s: float = 30.0) -> None:
    """Run ``service(stop)`` until ``stop`` is set, restarting it whenever it raises."""
    failures = 0
    while not stop.is_set():
        try:
            await service(stop)
            return
        except Exception:
            failures += 1
            delay_s = exponential_backoff(failures, initial_s=initial_backoff_s, maximum_s=max_backoff_s)
            log.exception("event service failed; restarting", service=name, failures=failures,
                          restart_in_s=delay_s)
            await wait_for_any(stop, timeout_s=delay_s)


async def run_event_services(settings: Settings, stop: asyncio.Event, *, webhooks: bool = True) -> None:
    """The relay and (unless ``webhooks`` is False) the webhook dispatcher, until ``stop`` is set."""
    services = [supervise("outbox-relay", lambda event: run_relay(settings, event), stop)]
    if webhooks:
        services.append(supervise("webhooks", lambda event: run_webhooks(settings, event), stop))
    await asyncio.gather(*services)
