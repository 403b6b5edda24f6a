"""The seed's data-quality endpoint."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from etl_orchestrator.api.rest.deps import ContextDep, PrincipalDep
from etl_orchestrator.api.rest.schemas import QualityReport
from etl_orchestrator.service.quality import quality_summary

router = APIRouter(tags=["data quality"])


@router.get("/data-quality", response_model=QualityReport, summary="Data quality metrics")
async def data_quality(ctx: ContextDep, principal: PrincipalDep,
                       window: Annotated[str, Query(pattern=r"^\d{1,4}[hd]$", description="e.g. 24h, 7d")] = "24h",
                       pipeline_id: UUID | None = None) -> dict:
    return await quality_summary(ctx, principal, window=window, pipeline_id=pipeline_id)
