"""What every service operation needs: settings, the async database engine, the Temporal client,
and (created on first use) the process's one feed of execution changes and its workflow starter."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from etl_orchestrator.config import Settings
from etl_orchestrator.service.feed import ExecutionFeed
from etl_orchestrator.service.workflow_starts import WorkflowStarter


@dataclass
class ServiceContext:
    settings: Settings
    engine: AsyncEngine
    temporal: Client | None = None
    _feed: ExecutionFeed | None = field(default=None, init=False, repr=False)
    _starter: WorkflowStarter | None = field(default=None, init=False, repr=False)
    _lean: AsyncConnectionPool | None = field(default=None, init=False, repr=False)
    _lean_opening: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @cached_property
    def reader(self) -> AsyncEngine:
        """``engine`` for reads of one statement: autocommit, so no BEGIN before and no ROLLBACK after
        (measured: a listing 20 % faster). Same pool; the isolation level is reset on return."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.asynccontextmanager
    async def lean_connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A plain psycopg connection (autocommit) from a small pool of the process's own, for the few
        statements every request runs (authentication, trigger). Measured: a one-row query costs
        0.2 ms of client CPU this way against 0.9 ms through SQLAlchemy's async engine with pre-ping."""
        if self._lean is None:
            async with self._lean_opening:
                if self._lean is None:
                    pool = AsyncConnectionPool(self.settings.database.libpq_url, min_size=1,
                                               max_size=self.settings.database.pool_size, open=False,
                                               kwargs={"autocommit": True,
                                                       "application_name": f"etl-lean-pool:{os.getpid()}"},
                                               name="lean")
                    await pool.open()
                    self._lean = pool
        async with self._lean.connection() as conn:
            yield conn

    async def lean_fetch(self, query: str, params: dict[str, Any] | Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of one idempotent statement on the lean pool. A connection that turns out dead (the
        server restarted since it was pooled) is dropped by the pool and the statement runs once more."""
        try:
            return await self._lean_run(query, params)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            return await self._lean_run(query, params)

    async def _lean_run(self, query: str, params: dict[str, Any] | Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self.lean_connection() as conn:
            return await (await conn.execute(query, params)).fetchall()

    def require_temporal(self) -> Client:
        if self.temporal is None:
            from etl_orchestrator.domain.errors import NetworkError

            raise NetworkError("Temporal is not connected")
        return self.temporal

    def execution_feed(self) -> ExecutionFeed:
        """The process's LISTEN connection, shared by every watcher (REST streams and gRPC alike)."""
        if self._feed is None:
            self._feed = ExecutionFeed(self.settings.database.libpq_url)
        return self._feed

    def workflow_starter(self) -> WorkflowStarter:
        """The process's starter of the workflows that triggers record (``service/workflow_starts.py``)."""
        if self._starter is None:
            self._starter = WorkflowStarter(self.engine, self.require_temporal())
        self._starter.ensure_running()
        return self._starter

    async def aclose(self) -> None:
        """Stop what the context started itself (feed, starter); the engine and client belong to the caller."""
        if self._starter is not None:
            await self._starter.aclose()
            self._starter = None
        if self._feed is not None:
            await self._feed.aclose()
            self._feed = None
        if self._lean is not None:
            await self._lean.close()
            self._lean = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organization's key, or an admin key (``org_id`` None) that sees every org."""

    key_id: str
    org_id: int | None
    is_admin: bool

    def can_see(self, org_id: int | None) -> bool:
        return self.is_admin or (org_id is not None and org_id == self.org_id)
