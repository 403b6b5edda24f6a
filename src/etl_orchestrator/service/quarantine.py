"""Quarantined rows of a pipeline (what Silver rejected, with raw values, rules and reasons) and
their replay: the range's quarantined rows re-judged with the pipeline's current rules, as a new
execution that rebuilds Silver and Gold without asking the source again.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import date
from typing import Any
from uuid import UUID

from etl_orchestrator.lake import Lake
from etl_orchestrator.layers.silver import list_quarantine
from etl_orchestrator.service import validation
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.executions import TriggerResult, trigger_execution, validate_range
from etl_orchestrator.service.organizations import get_visible_pipeline, utc


def _row_view(row: Any) -> dict[str, Any]:
    view = asdict(row)
    view["date"] = row.date.isoformat()
    view["ingested_at"] = utc(row.ingested_at)
    view["quarantined_at"] = utc(row.quarantined_at)
    return view


async def list_quarantined(ctx: ServiceContext, principal: Principal, pipeline_id: UUID, *,
                           date_from: date | None = None, date_to: date | None = None, limit: int = 100,
                           offset: int = 0) -> dict[str, Any]:
    """A page of the pipeline's quarantined rows, newest report date first."""
    pipeline = await get_visible_pipeline(ctx, principal, pipeline_id)
    validation.date_order(date_from, date_to)
    # Reading Delta/Parquet is blocking work: keep it off the event loop.
    page = await asyncio.to_thread(list_quarantine, Lake.of(ctx.settings.lake.uri), org_id=pipeline["org_id"],
                                   pipeline_id=pipeline_id, date_from=date_from, date_to=date_to, limit=limit,
                                   offset=offset)
    return {"rows": [_row_view(row) for row in page.rows], "total": page.total, "limit": page.limit,
            "offset": page.offset}


async def replay_quarantined(ctx: ServiceContext, principal: Principal, pipeline_id: UUID, *,
                             start: date, end: date) -> TriggerResult:
    """Start (or find, if one is running) the replay execution of ``start..end``."""
    validate_range(ctx.settings, start, end, field="date_range")
    return await trigger_execution(ctx, principal, pipeline_id=pipeline_id, start=start, end=end, mode="replay",
                                   trigger="replay")
