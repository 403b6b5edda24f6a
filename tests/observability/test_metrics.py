"""Prometheus: the worker's endpoint serves Temporal's metrics and ours; the API counts requests per route."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.worker import Worker

from etl_orchestrator.config import ApiSettings, DevSettings, Settings
from etl_orchestrator.embedded import free_port
from etl_orchestrator.observability import metrics
from etl_orchestrator.observability.http import REGISTRY, instrument_app
from tests.conftest import NAMESPACE
from tests.observability.traced_workflow import TracedWorkflow, traced_activity


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, keyed by name and labels (minus the runtime's global tags)."""
    ignored = {"service", "service_name"}
    return {(sample.name, frozenset((k, v) for k, v in sample.labels.items() if k not in ignored)): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_worker_endpoint_serves_temporal_and_etl_metrics(temporal_address):
    port = free_port()
    settings = Settings(api=ApiSettings(host="127.0.0.1"), dev=DevSettings(worker_metrics_port=port))
    runtime = metrics.worker_runtime(settings)
    assert metrics.worker_runtime(settings) is runtime, "one runtime (and one bound port) per process"
    pipeline_id = uuid.uuid4()

    metrics.record_layer("silver", records=1_990, duration_s=1.5, quarantined=10)
    metrics.record_execution("completed", duration_s=42.0)
    metrics.record_quality_score(pipeline_id, 99.5)
    metrics.observe_outbox(pending=4, oldest_age_s=2.5)
    metrics.record_schedule_skip("overlap")
    client = await Client.connect(temporal_address, namespace=NAMESPACE, runtime=runtime)
    task_queue = f"metrics-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[TracedWorkflow], activities=[traced_activity]):
        await client.execute_workflow(TracedWorkflow.run, "x", id=f"metrics-{uuid.uuid4()}", task_queue=task_queue)

    async with httpx.AsyncClient() as http:
        exposition = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    found = samples(exposition)
    assert found[("etl_layer_records_total", frozenset({("layer", "silver")}))] == 1_990
    assert found[("etl_quarantined_records_total", frozenset({("layer", "silver")}))] == 10
    assert found[("etl_layer_duration_seconds_count", frozenset({("layer", "silver")}))] == 1
    assert found[("etl_layer_duration_seconds_bucket", frozenset({("layer", "silver"), ("le", "2.5")}))] == 1
    assert found[("etl_executions_total", frozenset({("status", "completed")}))] == 1
    assert found[("etl_execution_duration_seconds_sum", frozenset({("status", "completed")}))] == 42.0
    assert found[("etl_quality_score", frozenset({("pipeline_id", str(pipeline_id))}))] == 99.5
    assert found[("etl_outbox_pending", frozenset())] == 4
    assert found[("etl_outbox_oldest_age_seconds", frozenset())] == 2.5
    assert found[("etl_schedule_skips_total", frozenset({("reason", "overlap")}))] == 1
    # The SDK's own series, on the same endpoint.
    assert any(name.startswith("temporal_workflow_completed") for name, _ in found)
    assert any(name.startswith("temporal_activity_execution_latency") for name, _ in found)


async def test_api_counts_requests_by_route_template_and_status():
    app = FastAPI()
    instrument_app(app)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict:
        return {"id": thing_id}

    route = {"method": "GET", "route": "/things/{thing_id}", "status": "200"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before_ok = REGISTRY.get_sample_value("etl_api_requests_total", route) or 0
    before_unmatched = REGISTRY.get_sample_value("etl_api_requests_total", unmatched) or 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        for thing_id in (1, 2, 3):
            assert (await http.get(f"/things/{thing_id}")).status_code == 200
        assert (await http.get("/nothing/here")).status_code == 404
        exposition = await http.get("/metrics")

    assert REGISTRY.get_sample_value("etl_api_requests_total", route) == before_ok + 3
    assert REGISTRY.get_sample_value("etl_api_requests_total", unmatched) == before_unmatched + 1
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    assert 'etl_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/things/{thing_id}"}' \
        in exposition.text
    assert "process_resident_memory_bytes" in exposition.text
