"""The FastAPI application: routers, problem handlers, body-size limit, and the service context."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware

from etl_orchestrator import __version__
from etl_orchestrator.api.rest.problems import install_problem_handlers, problem
from etl_orchestrator.api.rest.routes import executions, health, quality, webhooks
from etl_orchestrator.config import Settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.observability.http import instrument_app
from etl_orchestrator.observability.tracing import client_plugins
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.temporal_client import connect_temporal

API_PREFIX = "/api/v1/etl"


class BodySizeLimit(BaseHTTPMiddleware):
    def __init__(self, app, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def dispatch(self, request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return problem(413, f"request body larger than {self.max_bytes} bytes", field="body")
        return await call_next(request)


def create_app(settings: Settings, ctx: ServiceContext | None = None) -> FastAPI:
    """Build the app. Without ``ctx`` the lifespan connects to PostgreSQL and Temporal itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if ctx is not None:
            app.state.ctx = ctx
            yield
            return
        engine = make_async_engine(settings.database.url, pool_size=settings.database.pool_size)
        temporal = await connect_temporal(settings, plugins=client_plugins())
        app.state.ctx = ServiceContext(settings=settings, engine=engine, temporal=temporal)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="ETL Orchestrator", version=__version__, lifespan=lifespan,
                  description="Bronze → Silver → Gold pipelines for DSP reports, orchestrated by Temporal.")
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(executions.router, prefix=API_PREFIX)
    app.include_router(quality.router, prefix=API_PREFIX)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    instrument_app(app)  # request metrics, a server span per request, GET /metrics
    return app
