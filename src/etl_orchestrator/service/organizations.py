"""Organizations (tenants) and their pipelines: the records every other operation is scoped by.

Creating, listing and reading organizations is for admin keys; an organization's key gets 404
for all of them (never 403, so existence does not leak). A new organization comes with its first
API key, returned once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from etl_orchestrator.db.models import organizations, pipelines
from etl_orchestrator.domain.errors import NotFoundError, ValidationFailed
from etl_orchestrator.service import validation
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.errors import AlreadyExists, require_admin
from etl_orchestrator.service.pagination import decode_int_cursor, encode_int_cursor

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-") or "org"


def utc(value: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC (seed tables) or aware; callers always get aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def create_organization(conn: AsyncConnection, *, name: str, slug: str | None = None) -> int:
    return (await conn.execute(insert(organizations).values(name=name, slug=slug or slugify(name))
                               .returning(organizations.c.id))).scalar_one()


async def find_organization(conn: AsyncConnection, *, slug: str) -> int | None:
    return (await conn.execute(select(organizations.c.id).where(organizations.c.slug == slug))).scalar()


async def create_pipeline(conn: AsyncConnection, *, org_id: int, name: str, source_kind: str,
                          source_config: dict[str, Any], schedule_cron: str | None = None,
                          schedule_timezone: str = "UTC", quality_rules: list[dict[str, Any]] | None = None,
                          restatement_days: int = 7) -> UUID:
    """Insert a pipeline row as given (no validation, no schedule): for seeding and tests."""
    values: dict[str, Any] = {
        "org_id": org_id, "name": name, "source_kind": source_kind, "source_config": source_config,
        "schedule_cron": schedule_cron, "schedule_timezone": schedule_timezone,
        "restatement_days": restatement_days,
    }
    if quality_rules is not None:
        values["quality_rules"] = quality_rules
    return (await conn.execute(insert(pipelines).values(**values).returning(pipelines.c.id))).scalar_one()


async def get_visible_pipeline(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    """The pipeline if the caller's organization may see it; otherwise 404 (never 403: no existence leak)."""
    async with ctx.reader.connect() as conn:
        row = (await conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id))).mappings().first()
    if row is None or not principal.can_see(row["org_id"]):
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    return dict(row)


# ------------------------------------------------------------------------------ organizations as a resource


def organization_view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "slug": row["slug"], "status": row["status"],
            "created_at": utc(row["created_at"]), "updated_at": utc(row["updated_at"])}


async def get_visible_organization(ctx: ServiceContext, principal: Principal, org_id: int) -> dict[str, Any]:
    """The organization if the caller is an admin or one of its keys; otherwise 404."""
    if not principal.can_see(org_id) or not 0 < org_id <= validation.INT32_MAX:
        raise NotFoundError("organization not found", org_id=org_id)
    async with ctx.reader.connect() as conn:
        row = (await conn.execute(select(organizations).where(organizations.c.id == org_id))).mappings().first()
    if row is None:
        raise NotFoundError("organization not found", org_id=org_id)
    return organization_view(row)


async def create_organization_with_key(ctx: ServiceContext, principal: Principal, *, name: str,
                                       slug: str | None = None, key_name: str = "default") -> dict[str, Any]:
    """Admin: a new organization and its first API key (the key is in the answer, and nowhere else)."""
    from etl_orchestrator.service.api_keys import create_key_in  # api_keys imports this module

    require_admin(principal)
    validation.text("name", name, max_length=200)
    slug = slug if slug is not None else slugify(name)
    if not SLUG.match(slug):
        raise ValidationFailed("slug", "lowercase letters, digits and inner hyphens, at most 100 characters")
    validation.text("key_name", key_name, max_length=200)
    try:
        async with ctx.engine.begin() as conn:
            org_id = await create_organization(conn, name=name, slug=slug)
            key = await create_key_in(conn, org_id=org_id, name=key_name)
            row = (await conn.execute(select(organizations).where(organizations.c.id == org_id))).mappings().one()
    except IntegrityError as exc:
        raise AlreadyExists(f"an organization with slug {slug!r} already exists", slug=slug) from exc
    return {"organization": organization_view(row), "api_key": key}


async def list_organizations(ctx: ServiceContext, principal: Principal, *, limit: int,
                             cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Admin: organizations in creation order, a keyset page at a time."""
    require_admin(principal)
    query = select(organizations).order_by(organizations.c.id).limit(limit + 1)
    if cursor:
        query = query.where(organizations.c.id > decode_int_cursor(cursor))
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    page = rows[:limit]
    next_cursor = encode_int_cursor(page[-1]["id"]) if len(rows) > limit else None  # ids only grow: a plain keyset
    return [organization_view(row) for row in page], next_cursor


async def get_organization(ctx: ServiceContext, principal: Principal, org_id: int) -> dict[str, Any]:
    """Admin: one organization."""
    require_admin(principal)
    return await get_visible_organization(ctx, principal, org_id)
