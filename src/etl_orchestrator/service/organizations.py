"""Organizations (tenants) and their pipelines: the records every other operation is scoped by."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from etl_orchestrator.db.models import organizations, pipelines
from etl_orchestrator.domain.errors import NotFoundError
from etl_orchestrator.service.context import Principal, ServiceContext


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "org"


async def create_organization(conn: AsyncConnection, *, name: str, slug: str | None = None) -> int:
    return (await conn.execute(insert(organizations).values(name=name, slug=slug or slugify(name))
                               .returning(organizations.c.id))).scalar_one()


async def find_organization(conn: AsyncConnection, *, slug: str) -> int | None:
    return (await conn.execute(select(organizations.c.id).where(organizations.c.slug == slug))).scalar()


async def create_pipeline(conn: AsyncConnection, *, org_id: int, name: str, source_kind: str,
                          source_config: dict[str, Any], schedule_cron: str | None = None,
                          schedule_timezone: str = "UTC", quality_rules: list[dict[str, Any]] | None = None,
                          restatement_days: int = 7) -> UUID:
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
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id))).mappings().first()
    if row is None or not principal.can_see(row["org_id"]):
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    return dict(row)
