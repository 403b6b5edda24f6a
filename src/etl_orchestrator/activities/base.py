"""What every activity class shares: its dependencies and a way to run blocking work off the event loop.

Activities are ``async`` so that network calls (connectors) stay on the worker's event loop; blocking
work (Polars, Delta, PostgreSQL) goes to a thread pool sized from ``etl.workers`` while the
activity keeps heartbeating, so a long Silver step never trips its heartbeat timeout and a
blocking call never starves the other activities of the worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine

from etl_orchestrator.activities.retrying import current_state
from etl_orchestrator.config import RetrySettings, Settings
from etl_orchestrator.db.engine import sync_engine

T = TypeVar("T")
HEARTBEAT_EVERY_S = 2.0


class ActivityBase:
    """Base of activity classes: the dependencies the worker injects, and `offload`."""

    def __init__(self, settings: Settings, *, cpu_pool: ThreadPoolExecutor, engine: Engine | None = None) -> None:
        self.settings = settings
        self.cpu_pool = cpu_pool
        self.engine = engine or sync_engine(settings.database.url, settings.database.pool_size)
        self.conninfo = settings.database.libpq_url

    @property
    def retry(self) -> RetrySettings:
        return self.settings.etl.retry

    async def offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the CPU pool, heartbeating until it returns."""
        loop = asyncio.get_running_loop()
        # copy_context: log lines from the thread keep the execution ids bound by the activity.
        future = loop.run_in_executor(self.cpu_pool, contextvars.copy_context().run,
                                      functools.partial(fn, *args, **kwargs))
        while True:
            done, _ = await asyncio.wait({future}, timeout=HEARTBEAT_EVERY_S)
            if done:
                return future.result()
            current_state().heartbeat()


def retry_settings(activities: ActivityBase) -> RetrySettings:
    return activities.retry
