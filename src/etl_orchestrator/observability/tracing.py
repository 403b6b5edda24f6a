"""OpenTelemetry tracing: one trace from an API request through the Temporal client, the workflow
and its activities.

On only when there is somewhere to send spans: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) in the environment — exported over OTLP/gRPC with the
exporter's standard ``OTEL_*`` settings — or an exporter passed in (tests). Off, nothing is
installed: no tracer provider, no Temporal plugin, and the HTTP middleware passes straight through.

Temporal: ``OpenTelemetryPlugin(add_temporal_spans=True)`` on the client (workers built from the
client inherit it) gives spans with real durations (TEMPORAL-NOTES §9). It requires the global
tracer provider to be Temporal's replay-safe one, so workflow spans are not emitted again on
replay; ``configure_tracing`` installs exactly that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.plugin import SimplePlugin

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "etl-orchestrator"

_provider: ReplaySafeTracerProvider | None = None
_otlp_installed = False


def otlp_endpoint_configured(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def configure_tracing(service_name: str = DEFAULT_SERVICE_NAME, *, exporter: SpanExporter | None = None,
                      environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on if an exporter is given or an OTLP endpoint is configured; return whether it is on.

    Idempotent: the first call names the service and installs the provider; later calls can only
    add an exporter. ``OTEL_SERVICE_NAME`` overrides ``service_name``.
    """
    global _provider, _otlp_installed
    wants_otlp = otlp_endpoint_configured(environ)
    if exporter is None and not wants_otlp:
        return _provider is not None
    if _provider is None:
        _provider = create_tracer_provider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(_provider)
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    if wants_otlp and not _otlp_installed:
        # Imported here: the gRPC exporter is heavy and only needed when tracing is on.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _otlp_installed = True
    return True


def tracing_enabled() -> bool:
    return _provider is not None


def client_plugins() -> list[SimplePlugin]:
    """Plugins for ``Client.connect(..., plugins=...)``: the Temporal tracing plugin when tracing is on, else none."""
    if not configure_tracing():
        return []
    return [OpenTelemetryPlugin(add_temporal_spans=True)]


def shutdown_tracing() -> None:
    """Flush spans still buffered for export (call at process exit)."""
    if _provider is not None:
        _provider.force_flush()
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer("etl_orchestrator")
