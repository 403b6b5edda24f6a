"""Pipelines: create, list, get, update (PATCH), delete. Each change keeps the Temporal Schedule in step."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from etl_orchestrator.api.rest.deps import ContextDep, CursorQuery, LimitQuery, PrincipalDep
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.schemas import Pipeline, PipelineCreate, PipelineList, PipelineUpdate
from etl_orchestrator.service import pipelines as service

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


@router.post("", response_model=Pipeline, status_code=201, summary="Create a pipeline (and its schedule)",
             responses=problem_responses(400, 409, 413))
async def create_pipeline(ctx: ContextDep, principal: PrincipalDep, body: PipelineCreate) -> dict:
    spec = service.PipelineSpec(**body.model_dump(exclude={"org_id"}, mode="json"))
    return await service.create_pipeline(ctx, principal, spec, org_id=body.org_id)


@router.get("", response_model=PipelineList, summary="List pipelines, newest first")
async def list_pipelines(ctx: ContextDep, principal: PrincipalDep, limit: LimitQuery = 50, cursor: CursorQuery = None,
                         org_id: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                                             description="Admin keys: one organization.")] = None,
                         ) -> dict:
    rows, next_cursor = await service.list_pipelines(ctx, principal, limit=limit, cursor=cursor, org_id=org_id)
    return {"pipelines": rows, "next_cursor": next_cursor}


@router.get("/{pipeline_id}", response_model=Pipeline, summary="One pipeline")
async def get_pipeline(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID) -> dict:
    return await service.get_pipeline(ctx, principal, pipeline_id)


@router.patch("/{pipeline_id}", response_model=Pipeline, summary="Change some fields of a pipeline",
              responses=problem_responses(400, 409, 413))
async def update_pipeline(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID, body: PipelineUpdate) -> dict:
    return await service.update_pipeline(ctx, principal, pipeline_id, body.model_dump(exclude_unset=True, mode="json"))


@router.delete("/{pipeline_id}", status_code=204, response_class=Response,
               summary="Delete a pipeline, its schedule and its history", responses=problem_responses(409))
async def delete_pipeline(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID) -> Response:
    await service.delete_pipeline(ctx, principal, pipeline_id)
    return Response(status_code=204)
