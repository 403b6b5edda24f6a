"""A pipeline's quarantined rows (raw values, rules, reasons) and their replay as a new execution."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from etl_orchestrator.api.rest.deps import ContextDep, PrincipalDep
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.routes.executions import trigger_response
from etl_orchestrator.api.rest.schemas import QuarantinePage, ReplayRequest, TriggerResponse
from etl_orchestrator.service import quarantine as service

router = APIRouter(prefix="/pipelines/{pipeline_id}/quarantine", tags=["quarantine"])


@router.get("", response_model=QuarantinePage, summary="Quarantined rows, newest report date first")
async def list_quarantine(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID,
                          date_from: date | None = None, date_to: date | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict:
    return await service.list_quarantined(ctx, principal, pipeline_id, date_from=date_from, date_to=date_to,
                                          limit=limit, offset=offset)


@router.post("/replay", response_model=TriggerResponse, responses=problem_responses(400, 409, 413),
             summary="Re-judge a range's quarantined rows with the current rules (a new execution)")
async def replay_quarantine(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID, body: ReplayRequest) -> dict:
    result = await service.replay_quarantined(ctx, principal, pipeline_id, start=body.date_range.start,
                                              end=body.date_range.end)
    return trigger_response(result)
