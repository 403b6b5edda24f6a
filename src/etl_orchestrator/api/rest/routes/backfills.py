"""Backfills: a pipeline's date range as ``BackfillWorkflow`` — create, list, get (live progress), pause,
resume, cancel."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from etl_orchestrator.api.rest.deps import ContextDep, CursorQuery, LimitQuery, PrincipalDep
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.schemas import Backfill, BackfillCreate, BackfillList
from etl_orchestrator.service import backfills as service

router = APIRouter(prefix="/backfills", tags=["backfills"])


@router.post("", response_model=Backfill, status_code=201, summary="Start a backfill of a date range",
             responses=problem_responses(400, 413))
async def create_backfill(ctx: ContextDep, principal: PrincipalDep, body: BackfillCreate) -> dict:
    return await service.create_backfill(ctx, principal, pipeline_id=body.pipeline_id, start=body.date_range.start,
                                         end=body.date_range.end, parallelism=body.parallelism, force=body.force)


@router.get("", response_model=BackfillList, summary="Backfills, newest first")
async def list_backfills(ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID | None = None,
                         limit: LimitQuery = 50, cursor: CursorQuery = None) -> dict:
    rows, next_cursor = await service.list_backfills(ctx, principal, pipeline_id=pipeline_id, limit=limit,
                                                     cursor=cursor)
    return {"backfills": rows, "next_cursor": next_cursor}


@router.get("/{backfill_id}", response_model=Backfill, summary="One backfill, with live progress")
async def get_backfill(ctx: ContextDep, principal: PrincipalDep, backfill_id: UUID) -> dict:
    return await service.get_backfill(ctx, principal, backfill_id)


@router.post("/{backfill_id}/pause", response_model=Backfill, summary="Start no new partitions",
             responses=problem_responses(409))
async def pause_backfill(ctx: ContextDep, principal: PrincipalDep, backfill_id: UUID) -> dict:
    return await service.pause_backfill(ctx, principal, backfill_id)


@router.post("/{backfill_id}/resume", response_model=Backfill, summary="Resume a paused backfill",
             responses=problem_responses(409))
async def resume_backfill(ctx: ContextDep, principal: PrincipalDep, backfill_id: UUID) -> dict:
    return await service.resume_backfill(ctx, principal, backfill_id)


@router.post("/{backfill_id}/cancel", response_model=Backfill, summary="Cancel a backfill and its running partitions",
             responses=problem_responses(409))
async def cancel_backfill(ctx: ContextDep, principal: PrincipalDep, backfill_id: UUID) -> dict:
    return await service.cancel_backfill(ctx, principal, backfill_id)
