"""Onboarding a new organization: ``OnboardingWorkflow`` runs the steps below, undoing them on failure.

Steps, in order (each recorded in the ``onboardings`` row as pending → running → completed, or
failed / compensated): ``create_organization``, ``create_api_key``, ``check_credentials``,
``create_pipelines``, ``create_schedules``, ``start_backfill``, ``notify``. If one fails after its
retries (bad credentials fail at once: ``SourceAuthError`` is terminal), the completed steps are
undone in reverse order — backfill cancelled, schedules deleted, pipelines deleted, key deleted,
organization deleted — and the onboarding ends ``failed`` with the reason (the saga pattern).

Secrets stay out of Temporal: the workflow's input is the onboarding id only; the request, with
the source's credentials, is in the row. The organization's first API key is generated in an
activity, stored as its SHA-256 only, and leaves the activity *sealed*: XOR-ed with a one-time
pad created with the onboarding and kept in the row. ``get_onboarding`` unseals it for the admin
key that started the onboarding, once: the first answer after completion carries ``api_key`` and
deletes the pad, after which the sealed copy in Temporal's history is useless.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.activities.orchestration_contracts import (
    OnboardingInput,
    OnboardingResult,
    OnboardingStepInput,
    OnboardingStepResult,
    PipelineSpec,
    StepStateInput,
    StepStateResult,
)
from etl_orchestrator.connectors import open_connector, parse_source_config
from etl_orchestrator.db.models import (
    api_keys,
    backfills,
    event_outbox,
    onboardings,
    organizations,
    pipelines,
)
from etl_orchestrator.domain.errors import ConflictError, NetworkError, NotFoundError, ValidationFailed
from etl_orchestrator.domain.events import EventType
from etl_orchestrator.events.outbox import enqueue_event
from etl_orchestrator.service import schedules
from etl_orchestrator.service.auth import create_api_key
from etl_orchestrator.service.backfills import (
    MAX_BACKFILL_DAYS,
    backfill_workflow_id,
    iso_utc,
    start_backfill,
)
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.executions import run_options
from etl_orchestrator.service.organizations import slugify

ONBOARDING_WORKFLOW = "OnboardingWorkflow"
ONBOARDED_EVENT = EventType.ORGANIZATION_ONBOARDED
STEPS = ("create_organization", "create_api_key", "check_credentials", "create_pipelines", "create_schedules",
         "start_backfill", "notify")
UNDOABLE_STEPS = frozenset({"create_organization", "create_api_key", "create_pipelines", "create_schedules",
                            "start_backfill"})
INITIAL_BACKFILL_PARALLELISM = 4
BACKFILL_CANCEL_WAIT_S = 60.0
_PAD_BYTES = 64  # longer than any key new_key() makes
_PAD = "_api_key_pad"
_STARTED_BY = "_started_by"
# Fixed namespace of the uuid5 ids of an onboarding's initial backfills (one per pipeline).
_BACKFILL_NAMESPACE = UUID("c3a8f1e2-7d4b-4f6a-9e05-2b1d8c7a6f93")


class OnboardingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_name: str = Field(min_length=1, max_length=200)
    org_slug: str | None = Field(None, max_length=100)
    source_kind: str = "dv360"
    source_config: dict[str, Any]
    pipelines: list[PipelineSpec] | None = Field(
        None, description="Pipelines to create; default one 'DV360 Daily' at 06:00 UTC.")
    initial_backfill_days: int = Field(30, ge=0, le=MAX_BACKFILL_DAYS,
                                       description="Days before today each pipeline backfills at once (0: none).")

    def pipeline_specs(self) -> list[PipelineSpec]:
        return list(self.pipelines) if self.pipelines is not None else [PipelineSpec()]

    def slug(self) -> str:
        return self.org_slug or slugify(self.org_name)


# ------------------------------------------------------------------------------------------ sealing


def seal(secret: str, pad: bytes) -> str:
    """``secret`` XOR ``pad`` (a one-time pad at least as long), base64: unreadable without the pad."""
    raw = secret.encode()
    if len(raw) > len(pad):
        raise ValueError("the pad is shorter than the secret")
    return base64.urlsafe_b64encode(bytes(a ^ b for a, b in zip(raw, pad, strict=False))).decode()


def unseal(sealed: str, pad: bytes) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return bytes(a ^ b for a, b in zip(raw, pad, strict=False)).decode()


# ------------------------------------------------------------------------------------------ API side


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _validate(request: OnboardingRequest) -> None:
    if request.org_slug is not None and slugify(request.org_slug) != request.org_slug:
        raise ValidationFailed("org_slug", "lowercase letters, digits and inner hyphens only")
    try:
        parse_source_config(request.source_kind, request.source_config)
    except ValidationFailed as exc:
        raise ValidationFailed("source_kind" if exc.field == "source.kind" else exc.field,
                               str(exc).split(": ", 1)[-1]) from exc
    names = [spec.name for spec in request.pipeline_specs()]
    if len(set(names)) != len(names):
        raise ValidationFailed("pipelines", "pipeline names must be unique")
    for index, spec in enumerate(request.pipeline_specs()):
        try:
            schedules.validate_schedule(spec.schedule_cron, spec.schedule_timezone)
        except ValidationFailed as exc:
            raise ValidationFailed(f"pipelines[{index}].{exc.field}", str(exc).split(": ", 1)[-1]) from exc


async def start_onboarding(ctx: ServiceContext, principal: Principal,
                           request: OnboardingRequest) -> dict[str, Any]:
    """Admin only (404 otherwise). Records the onboarding and starts its workflow."""
    if not principal.is_admin:
        raise NotFoundError("not found")
    _validate(request)
    async with ctx.engine.connect() as conn:
        taken = (await conn.execute(select(organizations.c.id).where(organizations.c.slug == request.slug()))
                 ).scalar()
    if taken is not None:
        raise ConflictError(f"an organization with slug {request.slug()!r} already exists", slug=request.slug())
    onboarding_id = uuid4()
    workflow_id = f"onboarding:{onboarding_id}"
    stored = {**request.model_dump(mode="json"), _PAD: secrets.token_bytes(_PAD_BYTES).hex(),
              _STARTED_BY: principal.key_id}
    async with ctx.engine.begin() as conn:
        await conn.execute(insert(onboardings).values(
            id=onboarding_id, workflow_id=workflow_id, request=stored, status="running",
            steps=[{"name": name, "status": "pending", "detail": None} for name in STEPS]))
    try:
        await ctx.require_temporal().start_workflow(
            ONBOARDING_WORKFLOW, OnboardingInput(onboarding_id=onboarding_id, options=run_options(ctx.settings)),
            id=workflow_id, task_queue=ctx.settings.etl.temporal.task_queue)
    except RPCError as exc:
        async with ctx.engine.begin() as conn:
            await conn.execute(delete(onboardings).where(onboardings.c.id == onboarding_id))
        raise NetworkError(f"could not start the onboarding workflow: {exc.message}") from exc
    return {"onboarding_id": str(onboarding_id), "status": "running", "workflow_id": workflow_id}


async def _deliver_key(ctx: ServiceContext, principal: Principal, row: Any) -> str | None:
    """The new key, unsealed, for the admin who started the onboarding — once; None otherwise."""
    request = row["request"] or {}
    if row["status"] != "completed" or _PAD not in request or request.get(_STARTED_BY) != principal.key_id:
        return None
    try:
        result: OnboardingResult = await ctx.require_temporal().get_workflow_handle(
            row["workflow_id"], result_type=OnboardingResult).result()
    except (RPCError, WorkflowFailureError):
        return None
    if not result.sealed_api_key:
        return None
    async with ctx.engine.begin() as conn:
        # The row lock makes the read-and-remove atomic: concurrent reads cannot both get the key.
        pad_hex = (await conn.execute(select(onboardings.c.request[_PAD].astext)
                                      .where(onboardings.c.id == row["id"]).with_for_update())).scalar()
        if pad_hex is not None:
            await conn.execute(update(onboardings).where(onboardings.c.id == row["id"]).values(
                request=onboardings.c.request.op("-")(_PAD), updated_at=_utcnow()))
    if pad_hex is None:
        return None
    return unseal(result.sealed_api_key, bytes.fromhex(pad_hex))


async def get_onboarding(ctx: ServiceContext, principal: Principal, onboarding_id: UUID) -> dict[str, Any]:
    """The onboarding's status and steps. ``api_key`` is set only in the first answer after completion,
    and only for the admin key that started it; later answers say ``api_key_delivered``."""
    if not principal.is_admin:
        raise NotFoundError("not found")
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(onboardings).where(onboardings.c.id == onboarding_id))).mappings().first()
        if row is None:
            raise NotFoundError("onboarding not found", onboarding_id=onboarding_id)
        pipeline_ids, backfill_ids = [], []
        if row["org_id"] is not None:
            pipeline_ids = [str(i) for i in (await conn.execute(
                select(pipelines.c.id).where(pipelines.c.org_id == row["org_id"]).order_by(pipelines.c.created_at)
            )).scalars()]
            backfill_ids = [str(i) for i in (await conn.execute(
                select(backfills.c.id).where(backfills.c.org_id == row["org_id"]).order_by(backfills.c.created_at)
            )).scalars()]
    api_key = await _deliver_key(ctx, principal, row)
    steps = list(row["steps"] or [])
    return {
        "onboarding_id": str(row["id"]),
        "workflow_id": row["workflow_id"],
        "status": row["status"],
        "org_id": row["org_id"],
        "steps": steps,
        "compensated": any(step["status"] == "compensated" for step in steps),
        "error": row["error"],
        "pipeline_ids": pipeline_ids,
        "backfill_ids": backfill_ids,
        "api_key": api_key,
        "api_key_delivered": api_key is not None or (row["status"] == "completed"
                                                     and _PAD not in (row["request"] or {})),
        "created_at": iso_utc(row["created_at"]),
        "updated_at": iso_utc(row["updated_at"]),
    }


# ------------------------------------------------------------------------------------------ workflow side


async def record_step(ctx: ServiceContext, params: StepStateInput) -> StepStateResult:
    """Set one step's status (and maybe the onboarding's final status) in the row."""
    async with ctx.engine.begin() as conn:
        row = (await conn.execute(select(onboardings.c.steps).where(onboardings.c.id == params.onboarding_id)
                                  .with_for_update())).first()
        if row is None:
            return StepStateResult(recorded=False)
        steps = [dict(step) for step in row.steps or []]
        for step in steps:
            if step["name"] == params.step:
                step["status"] = params.status
                if params.detail is not None:
                    step["detail"] = params.detail
        values: dict[str, Any] = {"steps": steps, "updated_at": _utcnow()}
        if params.org_id is not None:
            values["org_id"] = params.org_id
        if params.final_status is not None:
            values["status"] = params.final_status
            values["error"] = params.error
        await conn.execute(update(onboardings).where(onboardings.c.id == params.onboarding_id).values(**values))
    return StepStateResult()


async def _request(ctx: ServiceContext, onboarding_id: UUID) -> tuple[OnboardingRequest, dict[str, Any]]:
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(onboardings).where(onboardings.c.id == onboarding_id))).mappings().first()
    if row is None:
        raise NotFoundError("onboarding not found", onboarding_id=onboarding_id)
    stored = dict(row["request"])
    request = OnboardingRequest.model_validate({k: v for k, v in stored.items() if not k.startswith("_")})
    return request, stored


def _key_name(onboarding_id: UUID) -> str:
    return f"onboarding {onboarding_id}"


async def _create_organization(ctx: ServiceContext, params: OnboardingStepInput,
                               request: OnboardingRequest) -> OnboardingStepResult:
    slug = request.slug()
    marker = str(params.onboarding_id)
    async with ctx.engine.begin() as conn:
        existing = (await conn.execute(select(organizations.c.id, organizations.c.settings)
                                       .where(organizations.c.slug == slug))).first()
        if existing is not None:
            if (existing.settings or {}).get("onboarding_id") != marker:
                raise ConflictError(f"an organization with slug {slug!r} already exists", slug=slug)
            org_id = existing.id  # created by an earlier attempt of this very step
        else:
            org_id = (await conn.execute(insert(organizations).values(
                name=request.org_name, slug=slug, settings={"onboarding_id": marker},
            ).returning(organizations.c.id))
            ).scalar_one()
    return OnboardingStepResult(org_id=org_id, detail=f"organization {org_id} ({slug})")


async def _create_api_key(ctx: ServiceContext, params: OnboardingStepInput,
                          stored: dict[str, Any]) -> OnboardingStepResult:
    name = _key_name(params.onboarding_id)
    async with ctx.engine.begin() as conn:
        # A key an earlier attempt made cannot be shown (only its hash exists): replace it.
        await conn.execute(delete(api_keys).where(api_keys.c.org_id == params.org_id, api_keys.c.name == name))
        key_id, key = await create_api_key(conn, org_id=params.org_id, name=name)
    return OnboardingStepResult(api_key_id=key_id, sealed_api_key=seal(key, bytes.fromhex(stored[_PAD])),
                                detail=f"key {key[:12]}… (shown once to the admin who started the onboarding)")


async def _check_credentials(request: OnboardingRequest) -> OnboardingStepResult:
    async with open_connector(request.source_kind, request.source_config) as connector:
        await connector.check_credentials()
    return OnboardingStepResult(detail=f"{request.source_kind} accepted the credentials")


async def _create_pipelines(ctx: ServiceContext, params: OnboardingStepInput,
                            request: OnboardingRequest) -> OnboardingStepResult:
    ids: list[UUID] = []
    async with ctx.engine.begin() as conn:
        for spec in request.pipeline_specs():
            values: dict[str, Any] = {
                "org_id": params.org_id, "name": spec.name, "source_kind": request.source_kind,
                "source_config": request.source_config, "schedule_cron": spec.schedule_cron,
                "schedule_timezone": spec.schedule_timezone, "catchup_window_s": spec.catchup_window_s,
                "restatement_days": spec.restatement_days,
            }
            if spec.quality_rules is not None:
                values["quality_rules"] = spec.quality_rules
            # (org, name) is unique: a retried step finds the pipeline its first attempt made.
            await conn.execute(pg_insert(pipelines).values(**values).on_conflict_do_nothing(
                index_elements=["org_id", "name"]))
            ids.append((await conn.execute(select(pipelines.c.id).where(
                pipelines.c.org_id == params.org_id, pipelines.c.name == spec.name))).scalar_one())
    return OnboardingStepResult(pipeline_ids=ids, detail=f"{len(ids)} pipeline(s)")


async def _pipeline_rows(ctx: ServiceContext, pipeline_ids: list[UUID]) -> list[dict[str, Any]]:
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(pipelines).where(pipelines.c.id.in_(pipeline_ids)))).mappings().all()
    return [dict(row) for row in rows]


async def _create_schedules(ctx: ServiceContext, params: OnboardingStepInput) -> OnboardingStepResult:
    scheduled = 0
    for row in await _pipeline_rows(ctx, params.pipeline_ids):
        if row["schedule_cron"]:
            await schedules.apply_pipeline_schedule(ctx, row)
            scheduled += 1
    return OnboardingStepResult(detail=f"{scheduled} schedule(s)")


def initial_backfill_range(today: date, days: int) -> tuple[date, date]:
    """The ``days`` complete days before ``today``."""
    end = today - timedelta(days=1)
    return end - timedelta(days=days - 1), end


async def _start_backfill(ctx: ServiceContext, params: OnboardingStepInput,
                          request: OnboardingRequest) -> OnboardingStepResult:
    if request.initial_backfill_days == 0:
        return OnboardingStepResult(detail="no initial backfill asked for")
    start, end = initial_backfill_range(params.today or _utcnow().date(), request.initial_backfill_days)
    ids: list[UUID] = []
    for row in await _pipeline_rows(ctx, params.pipeline_ids):
        backfill_id = uuid5(_BACKFILL_NAMESPACE, f"{params.onboarding_id}:{row['id']}")
        await start_backfill(ctx, backfill_id=backfill_id, pipeline=row, start=start, end=end,
                             parallelism=INITIAL_BACKFILL_PARALLELISM, force=False)
        ids.append(backfill_id)
    return OnboardingStepResult(backfill_ids=ids, detail=f"{len(ids)} backfill(s) of {start}..{end}")


async def _notify(ctx: ServiceContext, params: OnboardingStepInput,
                  request: OnboardingRequest) -> OnboardingStepResult:
    data = {"onboarding_id": str(params.onboarding_id), "org_name": request.org_name, "org_slug": request.slug(),
            "pipeline_ids": [str(i) for i in params.pipeline_ids],
            "backfill_ids": [str(i) for i in params.backfill_ids]}
    async with ctx.engine.begin() as conn:
        sent = (await conn.execute(select(func.count()).select_from(event_outbox).where(
            event_outbox.c.event_type == ONBOARDED_EVENT, event_outbox.c.org_id == params.org_id))).scalar_one()
        if not sent:  # a retried step must not announce the organization twice
            await conn.run_sync(lambda sync_conn: enqueue_event(
                sync_conn, ONBOARDED_EVENT, org_id=params.org_id, pipeline_id=None, execution_id=None, data=data))
    return OnboardingStepResult(detail=f"event {ONBOARDED_EVENT}")


async def run_step(ctx: ServiceContext, params: OnboardingStepInput) -> OnboardingStepResult:
    """Do one step (idempotently: a retry after a crash finds what the first attempt made)."""
    request, stored = await _request(ctx, params.onboarding_id)
    await record_step(ctx, StepStateInput(onboarding_id=params.onboarding_id, step=params.step, status="running"))
    if params.step == "create_organization":
        result = await _create_organization(ctx, params, request)
    elif params.step == "create_api_key":
        result = await _create_api_key(ctx, params, stored)
    elif params.step == "check_credentials":
        result = await _check_credentials(request)
    elif params.step == "create_pipelines":
        result = await _create_pipelines(ctx, params, request)
    elif params.step == "create_schedules":
        result = await _create_schedules(ctx, params)
    elif params.step == "start_backfill":
        result = await _start_backfill(ctx, params, request)
    elif params.step == "notify":
        result = await _notify(ctx, params, request)
    else:
        raise ValidationFailed("step", f"unknown onboarding step {params.step!r}")
    await record_step(ctx, StepStateInput(onboarding_id=params.onboarding_id, step=params.step, status="completed",
                                          detail=result.detail, org_id=result.org_id))
    return result


async def _cancel_backfills(ctx: ServiceContext, backfill_ids: list[UUID]) -> None:
    client = ctx.require_temporal()
    for backfill_id in backfill_ids:
        handle = client.get_workflow_handle(backfill_workflow_id(backfill_id))
        try:
            await handle.cancel()
            # Let it cancel its partitions and write its end before the rows it writes are deleted.
            await asyncio.wait_for(handle.result(), BACKFILL_CANCEL_WAIT_S)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        except (WorkflowFailureError, TimeoutError):
            pass


async def undo_step(ctx: ServiceContext, params: OnboardingStepInput) -> OnboardingStepResult:
    """Undo one completed step (idempotently: undoing twice is undoing once)."""
    if params.step == "start_backfill":
        await _cancel_backfills(ctx, params.backfill_ids)
        detail = f"{len(params.backfill_ids)} backfill(s) cancelled"
    elif params.step == "create_schedules":
        for pipeline_id in params.pipeline_ids:
            await schedules.remove_pipeline_schedule(ctx, pipeline_id)
        detail = "schedules deleted"
    elif params.step == "create_pipelines":
        async with ctx.engine.begin() as conn:
            await conn.execute(delete(pipelines).where(pipelines.c.id.in_(params.pipeline_ids)))
        detail = f"{len(params.pipeline_ids)} pipeline(s) deleted"
    elif params.step == "create_api_key":
        async with ctx.engine.begin() as conn:
            await conn.execute(delete(api_keys).where(api_keys.c.org_id == params.org_id,
                                                      api_keys.c.name == _key_name(params.onboarding_id)))
        detail = "API key deleted"
    elif params.step == "create_organization":
        async with ctx.engine.begin() as conn:
            await conn.execute(delete(organizations).where(
                organizations.c.id == params.org_id,
                organizations.c.settings["onboarding_id"].astext == str(params.onboarding_id)))
        detail = "organization deleted"
    else:
        raise ValidationFailed("step", f"onboarding step {params.step!r} cannot be undone")
    await record_step(ctx, StepStateInput(onboarding_id=params.onboarding_id, step=params.step,
                                          status="compensated",
                                          detail=detail))
    return OnboardingStepResult(detail=detail)
