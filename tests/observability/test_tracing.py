"""One trace from an API request through the Temporal client, the workflow and its activity."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.worker import Worker

from etl_orchestrator.observability.http import instrument_app
from etl_orchestrator.observability.tracing import client_plugins, configure_tracing
from tests.conftest import NAMESPACE
from tests.observability.traced_workflow import TracedWorkflow, traced_activity

PROBE = """
from etl_orchestrator.observability.tracing import client_plugins, tracing_enabled
print(tracing_enabled(), [type(plugin).__name__ for plugin in client_plugins()], tracing_enabled())
"""


@pytest.mark.parametrize(("endpoint", "expected"), [
    (None, "False [] False"),
    ("http://127.0.0.1:4317", "False ['OpenTelemetryPlugin'] True"),
])
def test_tracing_is_off_unless_an_otlp_endpoint_is_configured(endpoint, expected):
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == expected


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    assert configure_tracing("etl-orchestrator-test", exporter=exporter)
    return exporter


async def test_api_request_workflow_and_activity_share_one_trace(spans, temporal_address):
    client = await Client.connect(temporal_address, namespace=NAMESPACE, plugins=client_plugins())
    task_queue = f"tracing-{uuid.uuid4()}"
    app = FastAPI()
    instrument_app(app)

    @app.post("/runs")
    async def start_run() -> dict:
        trace_id = await client.execute_workflow(TracedWorkflow.run, "x", id=f"traced-{uuid.uuid4()}",
                                                 task_queue=task_queue)
        return {"activity_trace_id": trace_id}

    async with Worker(client, task_queue=task_queue, workflows=[TracedWorkflow], activities=[traced_activity]):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            response = await http.post("/runs")
    assert response.status_code == 200

    finished = {span.name: span for span in spans.get_finished_spans()}
    server = finished["POST /runs"]
    chain = ["StartWorkflow:TracedWorkflow", "RunWorkflow:TracedWorkflow", "StartActivity:traced_activity",
             "RunActivity:traced_activity"]
    assert set(chain) <= set(finished), sorted(finished)
    trace_id = server.context.trace_id
    assert {finished[name].context.trace_id for name in chain} == {trace_id}
    assert response.json()["activity_trace_id"] == format(trace_id, "032x")

    # Every span's ancestry leads back to the API request.
    by_id = {span.context.span_id: span for span in spans.get_finished_spans()}
    span = finished["RunActivity:traced_activity"]
    while span.parent is not None:
        span = by_id[span.parent.span_id]
    assert span is server
    assert server.attributes["http.route"] == "/runs"
    assert finished["RunWorkflow:TracedWorkflow"].end_time > finished["RunWorkflow:TracedWorkflow"].start_time
