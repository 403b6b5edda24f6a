"""The FastAPI application: routers, problem handlers, body-size limit, OpenAPI, and the service context."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etl_orchestrator import __version__
from etl_orchestrator.api.rest.deps import reject_unknown_query_parameters
from etl_orchestrator.api.rest.problems import install_problem_handlers, problem, problem_responses
from etl_orchestrator.api.rest.routes import (
    backfills,
    executions,
    health,
    onboarding,
    organizations,
    pipelines,
    quality,
    quarantine,
    schedules,
    webhooks,
)
from etl_orchestrator.api.rest.schemas import Problem
from etl_orchestrator.config import Settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.observability.http import instrument_app
from etl_orchestrator.observability.tracing import client_plugins
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.temporal_client import connect_temporal

API_PREFIX = "/api/v1/etl"


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with a 413 problem: by Content-Length up front, and by counting
    the bytes of a chunked body as they arrive (plain ASGI, so streamed responses pass untouched)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer now; to the app the client is gone, so it stops reading.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after the 413, whatever the app still says goes nowhere
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem(413, f"request body larger than {self.max_bytes} bytes", field="body")(scope, receive, send)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the Problem schema that every problem+json response refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem_schema.pop("$defs", {}))
        components["Problem"] = problem_schema
        app.openapi_schema = schema
    return app.openapi_schema


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
        app.state.ctx = own = ServiceContext(settings=settings, engine=engine, temporal=temporal)
        own.workflow_starter()  # starts left pending by any process that died after a trigger
        try:
            yield
        finally:
            await own.aclose()
            await engine.dispose()

    app = FastAPI(title="ETL Orchestrator", version=__version__, lifespan=lifespan,
                  description="Bronze → Silver → Gold pipelines for DSP reports, orchestrated by Temporal. "
                              "Every `/api/v1/etl` route takes an API key: `Authorization: Bearer etl_…`; "
                              "errors are `application/problem+json` naming the field at fault.")
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    install_problem_handlers(app)
    app.include_router(health.router)
    for resource in (executions, quality, pipelines, schedules, backfills, quarantine, organizations, onboarding,
                     webhooks):
        # What any API route may answer besides its own: no key, not visible, malformed, a dependency down.
        app.include_router(resource.router, prefix=API_PREFIX, responses=problem_responses(401, 404, 422, 503),
                           dependencies=[Depends(reject_unknown_query_parameters)])
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    instrument_app(app)  # request metrics, a server span per request, GET /metrics
    return app
