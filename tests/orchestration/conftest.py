"""Fixtures of the orchestration tests: a service context like the API's, and extra worker processes.

Tests that need a worker with other settings (a small rate-limit wait, a short heartbeat timeout)
or one they can kill start their own on task queues of their own, so the session's worker never
picks up their work and their faults never slow anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from etl_orchestrator.config import Settings, load_settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.embedded import ManagedProcess
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.temporal_client import connect_temporal
from tests.orchestration.helpers import sandbox_info


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def temporal_client(stack) -> Client:
    return await connect_temporal(stack.settings)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def service(stack, temporal_client) -> AsyncIterator[ServiceContext]:
    """The service layer as the API process runs it (same settings, same queues)."""
    engine = make_async_engine(stack.settings.database.url, pool_size=10)
    ctx = ServiceContext(settings=stack.settings, engine=engine, temporal=temporal_client)
    yield ctx
    await ctx.aclose()
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def advertiser(dsp_sandbox) -> dict[str, Any]:
    """The sandbox's smallest advertiser: one-advertiser pipelines keep partitions small and fast."""
    info = await sandbox_info(dsp_sandbox.url)
    return min(info["advertisers"], key=lambda adv: adv["rowsPerDay"])


class WorkerPool:
    """Worker processes on task queues of their own, with environment overrides; stopped at the end."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.processes: list[ManagedProcess] = []

    @staticmethod
    def queues(prefix: str) -> tuple[str, str]:
        suffix = uuid.uuid4().hex[:8]
        return f"{prefix}-{suffix}", f"{prefix}-{suffix}-backfill"

    def environment(self, task_queue: str, backfill_queue: str, **overrides: str) -> dict[str, str]:
        return {**self.stack.env, "ETL_TEMPORAL__TASK_QUEUE": task_queue,
                "ETL_TEMPORAL__BACKFILL_TASK_QUEUE": backfill_queue, **overrides}

    def settings(self, task_queue: str, backfill_queue: str, **overrides: str) -> Settings:
        """What such a worker's settings are (and the service should use to send it work)."""
        return load_settings(environ=self.environment(task_queue, backfill_queue, **overrides))

    def start(self, name: str, task_queue: str, backfill_queue: str, **overrides: str) -> ManagedProcess:
        env = self.environment(task_queue, backfill_queue, **overrides)
        process = ManagedProcess(name, self.stack.cli("worker"), log_path=self.stack.logs / f"{name}.log",
                                 env=env).start()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop(10)


@pytest.fixture(scope="session")
def workers(stack) -> Iterator[WorkerPool]:
    pool = WorkerPool(stack)
    yield pool
    pool.stop_all()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def context_for(stack, temporal_client) -> AsyncIterator[Callable[[Settings], ServiceContext]]:
    """A service context with other settings (other queues), sharing one engine."""
    engine = make_async_engine(stack.settings.database.url, pool_size=5)
    contexts: list[ServiceContext] = []

    def context(settings: Settings) -> ServiceContext:
        contexts.append(ServiceContext(settings=settings, engine=engine, temporal=temporal_client))
        return contexts[-1]

    yield context
    for ctx in contexts:
        await ctx.aclose()
    await engine.dispose()
