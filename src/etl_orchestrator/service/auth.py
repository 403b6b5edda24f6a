"""API keys: random, shown once, stored as SHA-256, bound to one organization (or admin), revocable."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from etl_orchestrator.db.execution_store import utcnow
from etl_orchestrator.db.models import api_keys
from etl_orchestrator.service.context import Principal, ServiceContext

KEY_PREFIX = "etl_"
# Every request runs it: plain SQL on the context's lean pool (see ``ServiceContext.lean_connection``).
AUTHENTICATE_SQL = "SELECT id, org_id, is_admin, revoked_at FROM api_keys WHERE key_hash = %s"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_api_key(conn: AsyncConnection, *, org_id: int | None, name: str, is_admin: bool = False) -> tuple[str, str]:
    """Create a key; returns (key id, the key itself — the only time it is visible)."""
    key = new_key()
    key_id = (await conn.execute(insert(api_keys).values(
        org_id=org_id, name=name, prefix=key[:12], key_hash=hash_key(key), is_admin=is_admin,
    ).returning(api_keys.c.id))).scalar_one()
    return str(key_id), key


async def authenticate(ctx: ServiceContext, key: str | None) -> Principal | None:
    """The principal a presented key stands for; None when missing, unknown or revoked."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    rows = await ctx.lean_fetch(AUTHENTICATE_SQL, (hash_key(key),))
    if not rows:
        return None
    key_id, org_id, is_admin, revoked_at = rows[0]
    if revoked_at is not None:
        return None
    return Principal(key_id=str(key_id), org_id=org_id, is_admin=is_admin)


async def revoke_api_key(conn: AsyncConnection, key_id: str, *, org_id: int | None) -> bool:
    statement = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    if org_id is not None:
        statement = statement.where(api_keys.c.org_id == org_id)
    result = await conn.execute(statement.values(revoked_at=utcnow()))
    return result.rowcount > 0
