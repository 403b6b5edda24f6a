"""The webhook delivery log of a pipeline: every attempt to POST its events, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from etl_orchestrator.api.rest.deps import ContextDep, PrincipalDep
from etl_orchestrator.events.delivery_log import list_deliveries
from etl_orchestrator.service.organizations import get_visible_pipeline

router = APIRouter(tags=["webhooks"])


class WebhookDelivery(BaseModel):
    id: int = Field(description="Increases with every attempt.")
    event_id: UUID = Field(description="The CloudEvent id (also sent as X-ETL-Event-Id).")
    event_type: str = Field(examples=["execution.completed"])
    url: str = Field(description="Where the event was POSTed.")
    attempt: int = Field(description="1 for the first try, then one more per retry.")
    status_code: int | None = Field(description="The receiver's HTTP status; null when it never answered.")
    success: bool
    error: str | None = Field(description="Why the attempt failed (HTTP status, timeout, connection error).")
    duration_ms: int | None
    created_at: datetime


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDelivery]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null on the last.")


@router.get("/pipelines/{pipeline_id}/webhook-deliveries", response_model=WebhookDeliveryList,
            summary="Webhook delivery attempts of a pipeline, newest first")
async def list_webhook_deliveries(
    ctx: ContextDep, principal: PrincipalDep, pipeline_id: UUID,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    await get_visible_pipeline(ctx, principal, pipeline_id)  # 404 for a pipeline of another organization
    deliveries, next_cursor = await list_deliveries(ctx.engine, pipeline_id=pipeline_id, limit=limit, cursor=cursor)
    return {"deliveries": deliveries, "next_cursor": next_cursor}
