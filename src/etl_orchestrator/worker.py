"""The Temporal worker process (``etl-orchestrator worker``): workflows and activities of the pipelines.

Activities are async; their blocking parts run on a CPU thread pool sized by
``etl.workers.cpu_threads`` (0 = cores). ``max_concurrent_activities`` and ``activity_timeout``
come from config. SIGTERM drains gracefully: running activities get ``graceful_shutdown`` to finish.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from etl_orchestrator.activities.ingestion import IngestionActivities
from etl_orchestrator.activities.layers import LayerActivities
from etl_orchestrator.config import Settings
from etl_orchestrator.events.service import run_event_services
from etl_orchestrator.lake import Lake
from etl_orchestrator.observability.metrics import worker_runtime
from etl_orchestrator.observability.tracing import client_plugins, configure_tracing
from etl_orchestrator.temporal_client import connect_temporal
from etl_orchestrator.workflows.etl import ETLWorkflow
from etl_orchestrator.workflows.ingestion import DataIngestionWorkflow

WORKFLOWS: Sequence[type] = (ETLWorkflow, DataIngestionWorkflow)
# Modules that are deterministic to import and heavy to re-import per workflow run (TEMPORAL-NOTES §6).
PASSTHROUGH_MODULES = ("polars", "pyarrow", "deltalake", "sqlalchemy", "psycopg", "httpx", "pydantic",
                       "etl_orchestrator")


def landing_dir(settings: Settings) -> Path:
    """Where downloads land before Bronze: beside a local lake, else a local scratch directory."""
    uri = settings.lake.uri
    if "://" not in uri or uri.startswith("file://"):
        return Path(uri.removeprefix("file://")) / "_landing"
    return Path(settings.dev.data_dir) / "landing"


def build_worker(client: Client, settings: Settings, *, task_queue: str | None = None,
                 cpu_pool: ThreadPoolExecutor | None = None) -> Worker:
    workers = settings.etl.workers
    cpu_pool = cpu_pool or ThreadPoolExecutor(max_workers=workers.cpu_threads or os.cpu_count() or 2,
                                              thread_name_prefix="etl-cpu")
    lake = Lake(settings.lake.uri)
    ingestion = IngestionActivities(settings, cpu_pool=cpu_pool, lake=lake, landing_dir=landing_dir(settings))
    layers = LayerActivities(settings, cpu_pool=cpu_pool, lake=lake)
    return Worker(
        client,
        task_queue=task_queue or settings.etl.temporal.task_queue,
        workflows=list(WORKFLOWS),
        activities=[ingestion.request_report, ingestion.check_report, ingestion.ingest_to_bronze,
                    layers.begin_execution, layers.build_silver, layers.build_gold,
                    layers.record_partition_failure, layers.finish_execution],
        max_concurrent_activities=workers.max_concurrent_activities,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)),
        graceful_shutdown_timeout=timedelta(seconds=8),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or forever), then shut down gracefully.

    The process also runs the event services (outbox relay to NATS, webhook delivery) and serves
    Prometheus metrics (Temporal's and ours) on ``dev.worker_metrics_port``.
    """
    configure_tracing("etl-orchestrator-worker")
    client = await connect_temporal(settings, runtime=worker_runtime(settings), plugins=client_plugins())
    stop = stop or asyncio.Event()
    events = asyncio.create_task(run_event_services(settings, stop))
    try:
        async with build_worker(client, settings):
            await stop.wait()
    finally:
        stop.set()
        await events
