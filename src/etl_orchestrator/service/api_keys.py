"""API keys of an organization as a resource: create (the key is shown once), list, revoke.

An admin key manages every organization's keys; an organization's key may manage its own
organization's keys (so a tenant can rotate without an operator), and gets 404 for any other.
Listings never contain a key or its hash: only the id, name, the first characters, and dates.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from etl_orchestrator.db.execution_store import utcnow
from etl_orchestrator.db.models import api_keys
from etl_orchestrator.domain.errors import NotFoundError
from etl_orchestrator.service import validation
from etl_orchestrator.service.auth import create_api_key
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.organizations import get_visible_organization, utc


def key_view(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "org_id": row["org_id"], "name": row["name"], "prefix": row["prefix"],
            "created_at": utc(row["created_at"]), "last_used_at": utc(row["last_used_at"]),
            "revoked_at": utc(row["revoked_at"])}


async def create_key_in(conn: AsyncConnection, *, org_id: int, name: str) -> dict[str, Any]:
    key_id, key = await create_api_key(conn, org_id=org_id, name=name)
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return {**key_view(row), "key": key}


async def create_key(ctx: ServiceContext, principal: Principal, *, org_id: int, name: str) -> dict[str, Any]:
    """A new key of the organization; the answer holds the key itself, the only time it is visible."""
    await get_visible_organization(ctx, principal, org_id)
    validation.text("name", name, max_length=200)
    async with ctx.engine.begin() as conn:
        return await create_key_in(conn, org_id=org_id, name=name)


async def list_keys(ctx: ServiceContext, principal: Principal, *, org_id: int) -> list[dict[str, Any]]:
    await get_visible_organization(ctx, principal, org_id)
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(select(api_keys).where(api_keys.c.org_id == org_id)
                                   .order_by(api_keys.c.created_at, api_keys.c.id))).mappings().all()
    return [key_view(row) for row in rows]


async def revoke_key(ctx: ServiceContext, principal: Principal, *, org_id: int, key_id: UUID) -> dict[str, Any]:
    """Revoke the key (idempotent: revoking a revoked key answers it unchanged). Takes effect at once."""
    await get_visible_organization(ctx, principal, org_id)
    async with ctx.engine.begin() as conn:
        await conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.org_id == org_id,
                                                  api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id, api_keys.c.org_id == org_id))
               ).mappings().first()
    if row is None:
        raise NotFoundError("API key not found", key_id=key_id)
    return key_view(row)
