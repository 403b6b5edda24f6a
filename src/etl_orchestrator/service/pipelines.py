"""Pipelines as a resource: create, list, get, update, delete — validated, scoped to the caller's
organization, and kept in step with their Temporal Schedules (``service/schedules.py``).

Validation happens here so REST and gRPC refuse the same things, each naming the field: the source
config against its connector's model, the quality rules against ``quality/rules.py``, the cron and
time zone against ``schedules.validate_schedule``. Credentials are write-only: the source config's
secret keys are masked in every answer, the webhook secret is never returned (only whether one is
set). ``source_config`` in an update is merged into the stored one (a JSON merge patch: a key set
to null is removed), so changing the base URL does not require resending the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from etl_orchestrator.connectors import parse_source_config
from etl_orchestrator.db.execution_store import LIVE_STATUSES
from etl_orchestrator.db.models import backfills, etl_executions, pipelines
from etl_orchestrator.domain.errors import ConflictError, NotFoundError, ValidationFailed
from etl_orchestrator.quality.rules import rules_from_json, rules_to_json
from etl_orchestrator.service import schedules, validation
from etl_orchestrator.service.backfills import ACTIVE_STATUSES as LIVE_BACKFILL_STATUSES
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.errors import AlreadyExists
from etl_orchestrator.service.organizations import get_visible_organization, get_visible_pipeline, utc
from etl_orchestrator.service.pagination import after, page_of

SECRET_KEYS = frozenset({"token", "secret", "password", "api_key", "client_secret", "private_key", "credentials"})
MASK = "********"
MAX_CATCHUP_S = 7 * 86400
MAX_RESTATEMENT_DAYS = 60
# Changing any of these changes what the Temporal Schedule must look like.
SCHEDULE_FIELDS = frozenset({"schedule_cron", "schedule_timezone", "catchup_window_s", "enabled"})


@dataclass(frozen=True)
class PipelineSpec:
    """Every settable field of a pipeline, as a create takes it (an update takes any subset)."""

    name: str
    source_kind: str
    source_config: dict[str, Any]
    schedule_cron: str | None = None
    schedule_timezone: str = "UTC"
    catchup_window_s: int = 3600
    restatement_days: int = 7
    quality_rules: list[dict[str, Any]] | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    enabled: bool = True


UPDATABLE = frozenset(PipelineSpec.__dataclass_fields__)


def _masked(config: dict[str, Any]) -> dict[str, Any]:
    return {key: (MASK if key in SECRET_KEYS and value is not None else
                  _masked(value) if isinstance(value, dict) else value)
            for key, value in config.items()}


def pipeline_view(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "org_id": row["org_id"], "name": row["name"], "source_kind": row["source_kind"],
        "source_config": _masked(row["source_config"] or {}),
        "schedule_cron": row["schedule_cron"], "schedule_timezone": row["schedule_timezone"],
        "schedule_state": row["schedule_state"], "schedule_id": row["schedule_id"],
        "catchup_window_s": row["catchup_window_s"], "restatement_days": row["restatement_days"],
        "quality_rules": row["quality_rules"] or [],
        "webhook_url": row["webhook_url"], "webhook_secret_set": row["webhook_secret"] is not None,
        "enabled": row["enabled"], "created_at": utc(row["created_at"]), "updated_at": utc(row["updated_at"]),
    }


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    """The column values of a complete pipeline, checked; raises ValidationFailed naming the field."""
    validation.text("name", values["name"], max_length=200)
    validation.json_value("source_config", values["source_config"])
    try:
        parse_source_config(values["source_kind"], values["source_config"])
    except ValidationFailed as exc:
        if exc.field == "source.kind":
            raise ValidationFailed("source_kind", str(exc).split(": ", 1)[-1]) from exc
        raise
    if values["schedule_cron"] is not None:
        validation.text("schedule_cron", values["schedule_cron"], max_length=100)
    validation.text("schedule_timezone", values["schedule_timezone"], max_length=64)
    schedules.validate_schedule(values["schedule_cron"], values["schedule_timezone"])
    validation.int_range("catchup_window_s", values["catchup_window_s"], minimum=0, maximum=MAX_CATCHUP_S)
    validation.int_range("restatement_days", values["restatement_days"], minimum=0, maximum=MAX_RESTATEMENT_DAYS)
    rules = values["quality_rules"]
    if rules:
        validation.json_value("quality_rules", rules)
        rules = rules_to_json(rules_from_json(rules))  # stored normalised; [] stands for the default rules
    if values["webhook_url"] is not None:
        validation.http_url("webhook_url", values["webhook_url"])
    if values["webhook_secret"] is not None:
        validation.text("webhook_secret", values["webhook_secret"], max_length=200)
    if not isinstance(values["enabled"], bool):
        raise ValidationFailed("enabled", "must be true or false")
    return {**values, "quality_rules": rules or []}


async def _insert(ctx: ServiceContext, org_id: int, values: dict[str, Any]) -> dict[str, Any]:
    try:
        async with ctx.engine.begin() as conn:
            row = (await conn.execute(insert(pipelines).values(org_id=org_id, **values).returning(pipelines))
                   ).mappings().one()
    except IntegrityError as exc:
        raise AlreadyExists(f"the organization already has a pipeline named {values['name']!r}",
                            name=values["name"]) from exc
    return dict(row)


async def _reload(ctx: ServiceContext, pipeline_id: UUID) -> dict[str, Any]:
    async with ctx.reader.connect() as conn:
        row = (await conn.execute(select(pipelines).where(pipelines.c.id == pipeline_id))).mappings().first()
    if row is None:
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    return dict(row)


async def create_pipeline(ctx: ServiceContext, principal: Principal, spec: PipelineSpec, *,
                          org_id: int | None = None) -> dict[str, Any]:
    """Create the pipeline in the caller's organization (an admin names ``org_id``) and its schedule.

    If the schedule cannot be created the pipeline is removed again, so a create either fully
    happens or not at all.
    """
    if principal.is_admin:
        if org_id is None:
            raise ValidationFailed("org_id", "an admin key must name the organization of the pipeline")
    else:
        org_id = principal.org_id if org_id is None else org_id
    await get_visible_organization(ctx, principal, org_id)
    row = await _insert(ctx, org_id, _validated(dict(spec.__dict__)))
    if row["schedule_cron"]:
        try:
            await schedules.apply_pipeline_schedule(ctx, row)
        except BaseException:
            async with ctx.engine.begin() as conn:
                await conn.execute(delete(pipelines).where(pipelines.c.id == row["id"]))
            raise
        row = await _reload(ctx, row["id"])
    return pipeline_view(row)


async def list_pipelines(ctx: ServiceContext, principal: Principal, *, limit: int, cursor: str | None = None,
                         org_id: int | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The caller's pipelines, newest first (an admin sees every organization's, or ``org_id``'s)."""
    conditions = []
    if not principal.is_admin:
        conditions.append(pipelines.c.org_id == principal.org_id)
    if org_id is not None:
        conditions.append(pipelines.c.org_id == org_id)
    if cursor:
        conditions.append(after(pipelines.c.created_at, pipelines.c.id, cursor))
    query = (select(pipelines).where(*conditions)
             .order_by(pipelines.c.created_at.desc(), pipelines.c.id.desc()).limit(limit + 1))
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    page, next_cursor = page_of(rows, limit, sort="created_at")
    return [pipeline_view(row) for row in page], next_cursor


async def get_pipeline(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> dict[str, Any]:
    return pipeline_view(await get_visible_pipeline(ctx, principal, pipeline_id))


def _merge(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch of the source config, where a masked secret means "keep it"."""
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif value == MASK and key in SECRET_KEYS:
            continue
        elif isinstance(value, dict) and isinstance(stored.get(key), dict):
            merged[key] = _merge(stored[key], value)
        else:
            merged[key] = value
    return merged


async def update_pipeline(ctx: ServiceContext, principal: Principal, pipeline_id: UUID,
                          changes: dict[str, Any]) -> dict[str, Any]:
    """Change some fields (keys of ``PipelineSpec``); the schedule follows when its fields changed."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], "not a field of a pipeline that can be changed")
    current = await get_visible_pipeline(ctx, principal, pipeline_id)
    if "source_config" in changes:
        if not isinstance(changes["source_config"], dict):
            raise ValidationFailed("source_config", "must be an object")
        changes = {**changes, "source_config": _merge(current["source_config"] or {}, changes["source_config"])}
    for required in ("name", "source_kind", "source_config", "schedule_timezone", "catchup_window_s",
                     "restatement_days", "enabled"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(required, "must not be null")
    merged = {name: current[name] for name in UPDATABLE} | changes
    values = _validated(merged)
    values = {name: value for name, value in values.items() if name in changes}
    if not values:
        return pipeline_view(current)
    try:
        async with ctx.engine.begin() as conn:
            row = (await conn.execute(
                update(pipelines).where(pipelines.c.id == pipeline_id)
                .values(**values, updated_at=datetime.now(UTC).replace(tzinfo=None)).returning(pipelines)
            )).mappings().first()
    except IntegrityError as exc:
        raise AlreadyExists(f"the organization already has a pipeline named {values.get('name')!r}",
                            name=values.get("name")) from exc
    if row is None:
        raise NotFoundError("pipeline not found", pipeline_id=pipeline_id)
    if SCHEDULE_FIELDS & set(values) and (row["schedule_cron"] or current["schedule_cron"]):
        await schedules.apply_pipeline_schedule(ctx, dict(row))
        return pipeline_view(await _reload(ctx, pipeline_id))
    return pipeline_view(row)


async def delete_pipeline(ctx: ServiceContext, principal: Principal, pipeline_id: UUID) -> None:
    """Delete the pipeline, its schedule and its history. Refused (409) while it has live work."""
    pipeline = await get_visible_pipeline(ctx, principal, pipeline_id)
    async with ctx.engine.connect() as conn:
        live_executions = (await conn.execute(select(func.count()).select_from(etl_executions).where(
            etl_executions.c.pipeline_id == pipeline_id, etl_executions.c.status.in_(LIVE_STATUSES)))).scalar_one()
        live_backfills = (await conn.execute(select(func.count()).select_from(backfills).where(
            backfills.c.pipeline_id == pipeline_id, backfills.c.status.in_(LIVE_BACKFILL_STATUSES)))).scalar_one()
    if live_executions or live_backfills:
        raise ConflictError(f"the pipeline has {live_executions} live execution(s) and {live_backfills} live "
                            f"backfill(s); cancel them first", pipeline_id=pipeline_id)
    await schedules.remove_pipeline_schedule(ctx, pipeline["id"])
    async with ctx.engine.begin() as conn:
        await conn.execute(delete(pipelines).where(pipelines.c.id == pipeline_id))
