"""What every service operation needs: settings, the async database engine, the Temporal client,
and (created on first use) the process's one feed of execution changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from etl_orchestrator.config import Settings
from etl_orchestrator.service.feed import ExecutionFeed


@dataclass
class ServiceContext:
    settings: Settings
    engine: AsyncEngine
    temporal: Client | None = None
    _feed: ExecutionFeed | None = field(default=None, init=False, repr=False)

    @cached_property
    def reader(self) -> AsyncEngine:
        """``engine`` for reads of one statement: autocommit, so no BEGIN before and no ROLLBACK after
        (measured: a listing 20 % faster). Same pool; the isolation level is reset on return."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

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

    async def aclose(self) -> None:
        """Stop what the context started itself (the feed); the engine and client belong to the caller."""
        if self._feed is not None:
            await self._feed.aclose()
            self._feed = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organization's key, or an admin key (``org_id`` None) that sees every org."""

    key_id: str
    org_id: int | None
    is_admin: bool

    def can_see(self, org_id: int | None) -> bool:
        return self.is_admin or (org_id is not None and org_id == self.org_id)
