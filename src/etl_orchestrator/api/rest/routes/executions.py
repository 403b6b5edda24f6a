"""The seed's execution endpoints: list, trigger, logs; plus one execution by id."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from etl_orchestrator.api.rest.deps import ContextDep, PrincipalDep
from etl_orchestrator.api.rest.schemas import (
    ExecutionDetail,
    ExecutionList,
    ExecutionStatusFilter,
    LogList,
    TriggerRequest,
    TriggerResponse,
)
from etl_orchestrator.service import executions as service

router = APIRouter(tags=["executions"])


@router.get("/executions", response_model=ExecutionList, summary="List pipeline executions")
async def list_executions(
    ctx: ContextDep, principal: PrincipalDep,
    pipeline_id: UUID | None = None,
    status: ExecutionStatusFilter | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    executions, next_cursor = await service.list_executions(
        ctx, principal, service.ExecutionFilter(pipeline_id=pipeline_id, status=status.value if status else None,
                                                date_from=date_from, date_to=date_to),
        limit=limit, cursor=cursor)
    return {"executions": executions, "next_cursor": next_cursor}


@router.post("/trigger", response_model=TriggerResponse, summary="Manually trigger a pipeline execution")
async def trigger(ctx: ContextDep, principal: PrincipalDep, body: TriggerRequest) -> dict:
    date_range = body.parameters.date_range
    result = await service.trigger_execution(
        ctx, principal, pipeline_id=body.pipeline_id, start=date_range.start if date_range else None,
        end=date_range.end if date_range else None, force=body.parameters.force)
    return {"execution_id": result.execution_id, "status": result.status,
            "estimated_start": result.estimated_start.replace(microsecond=0)}


@router.get("/executions/{execution_id}", response_model=ExecutionDetail, summary="One execution")
async def get_execution(ctx: ContextDep, principal: PrincipalDep, execution_id: UUID) -> dict:
    return await service.get_execution(ctx, principal, execution_id)


@router.get("/executions/{execution_id}/logs", response_model=LogList, summary="Execution logs")
async def execution_logs(ctx: ContextDep, principal: PrincipalDep, execution_id: UUID,
                         limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> dict:
    return {"logs": await service.execution_logs_of(ctx, principal, execution_id, limit=limit)}
