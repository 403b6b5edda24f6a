"""Liveness and readiness (no API key: load balancers and orchestrators call them)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from etl_orchestrator.api.rest.deps import ContextDep

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="ready | not ready")
    checks: dict[str, str] = Field(description="Per dependency: ok, or error: <exception class>.")


@router.get("/healthz", response_model=Liveness, summary="The process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="PostgreSQL and Temporal answer",
            responses={503: {"model": Readiness, "description": "A dependency does not answer."}})
async def readyz(ctx: ContextDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        checks["postgres"] = f"error: {exc.__class__.__name__}"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ctx.require_temporal().service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        checks["temporal"] = f"error: {exc.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
