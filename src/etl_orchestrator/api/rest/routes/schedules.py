"""A pipeline's Temporal Schedule: describe, pause, resume, fire now."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from etl_orchestrator.api.rest.deps import ContextDep, PrincipalDep
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.schemas import PauseRequest, ScheduleView
from etl_orchestrator.service import schedules as service

router = APIRouter(prefix="/pipelines/{pipeline_id}/schedule", tags=["schedules"])


@router.get("", response_model=ScheduleView, summary="The pipeline's schedule (state none without a cron)")
async def describe_schedule(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID) -> dict:
    return await service.describe_schedule(ctx, principal, pipeline_id)


@router.post("/pause", response_model=ScheduleView, summary="Pause the schedule", responses=problem_responses(400, 413))
async def pause_schedule(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID,
                         body: PauseRequest | None = None) -> dict:
    return await service.pause_schedule(ctx, principal, pipeline_id, note=body.note if body else None)


@router.post("/resume", response_model=ScheduleView, summary="Resume the schedule", responses=problem_responses(409))
async def resume_schedule(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID) -> dict:
    return await service.resume_schedule(ctx, principal, pipeline_id)


@router.post("/trigger", response_model=ScheduleView, summary="Fire the schedule once now (overlap policy applies)")
async def trigger_schedule(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID) -> dict:
    return await service.trigger_schedule_now(ctx, principal, pipeline_id)
