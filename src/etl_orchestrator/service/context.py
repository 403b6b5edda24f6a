"""What every service operation needs: settings, the async database engine, the Temporal client."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from etl_orchestrator.config import Settings


@dataclass
class ServiceContext:
    settings: Settings
    engine: AsyncEngine
    temporal: Client | None = None

    def require_temporal(self) -> Client:
        if self.temporal is None:
            from etl_orchestrator.domain.errors import NetworkError

            raise NetworkError("Temporal is not connected")
        return self.temporal


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organization's key, or an admin key (``org_id`` None) that sees every org."""

    key_id: str
    org_id: int | None
    is_admin: bool

    def can_see(self, org_id: int | None) -> bool:
        return self.is_admin or (org_id is not None and org_id == self.org_id)
