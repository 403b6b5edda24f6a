"""Small waiting helpers shared by the relay and the webhook dispatcher: backoff and interruptible sleeps."""

from __future__ import annotations

import asyncio
import contextlib


def exponential_backoff(attempt: int, *, initial_s: float, maximum_s: float) -> float:
    """Seconds to wait before try number ``attempt + 1`` (attempt 1 waits ``initial_s``), capped."""
    return min(maximum_s, initial_s * 2 ** max(0, attempt - 1))


async def wait_for_any(*events: asyncio.Event, timeout_s: float) -> None:
    """Return when one of ``events`` is set or ``timeout_s`` has passed, whichever comes first."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
