"""The API's telemetry: request counts and latencies per route and status, a server span per request,
and the ``/metrics`` route that serves them to Prometheus.

``instrument_app(app)`` installs both. The middleware is plain ASGI (no per-request task or body
buffering, so streamed responses such as server-sent events pass through untouched). Routes are
labelled by their template (``/api/v1/etl/executions/{execution_id}``), never by the raw path, so
label cardinality stays bounded; requests that match no route are ``unmatched``. The API's metrics
live in a registry of their own, beside the process's CPU, memory and GC collectors.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etl_orchestrator.observability.tracing import tracer, tracing_enabled

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)
REQUESTS = Counter("etl_api_requests_total", "HTTP requests answered, by route template and status.",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("etl_api_request_duration_seconds", "Time to answer an HTTP request (to the last body byte).",
                    ["method", "route"], registry=REGISTRY)
UNMATCHED = "unmatched"

metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def route_of(scope: Scope) -> str:
    """The template of the route that handled the request (set by the router as it dispatches)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


class RequestTelemetry:
    """ASGI middleware: a metric sample and (when tracing is on) a server span per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = 500  # what the client gets if the app dies before answering

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        with self._server_span(scope) as span:
            try:
                await self.app(scope, receive, send_recording_status)
            finally:
                route = route_of(scope)
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(time.perf_counter() - started)
                if span is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))

    @staticmethod
    def _server_span(scope: Scope) -> Any:
        if not tracing_enabled():
            return nullcontext(None)
        # Continue the caller's trace when it sent a W3C traceparent header.
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        return tracer().start_as_current_span(
            f"{scope['method']} {scope['path']}", context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]})


def instrument_app(app: FastAPI) -> None:
    """Add request metrics and server spans (outermost middleware) and ``GET /metrics``."""
    app.add_middleware(RequestTelemetry)
    app.include_router(metrics_router)
