"""The Temporal worker process (``etl-orchestrator worker``): workflows and activities of the pipelines.

One process polls two task queues with the same workflows and activities: ``etl.temporal.task_queue``
(triggers, schedules, onboarding) and ``etl.temporal.backfill_task_queue`` (backfills and their
partitions), each with its own slots, so a year-long backfill never delays the daily schedules.

Activities are async; their blocking parts run on a CPU thread pool sized by
``etl.workers.cpu_threads`` (0 = cores), shared by both queues. ``max_concurrent_activities`` and
``activity_timeout`` come from config. SIGTERM drains gracefully: both workers stop polling at
once, running activities get ``GRACEFUL_SHUTDOWN`` to finish (after that they are cancelled and
Temporal retries them on another worker), then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from etl_orchestrator.activities.onboarding import OnboardingActivities
from etl_orchestrator.activities.orchestration import OrchestrationActivities
from etl_orchestrator.activities.partition import PartitionActivities
from etl_orchestrator.config import Settings
from etl_orchestrator.events.service import run_event_services
from etl_orchestrator.lake import Lake
from etl_orchestrator.observability.metrics import worker_runtime
from etl_orchestrator.observability.tracing import client_plugins, configure_tracing
from etl_orchestrator.temporal_client import connect_temporal
from etl_orchestrator.workflows.backfill import BackfillWorkflow
from etl_orchestrator.workflows.etl import ETLWorkflow
from etl_orchestrator.workflows.ingestion import DataIngestionWorkflow
from etl_orchestrator.workflows.onboarding import OnboardingWorkflow
from etl_orchestrator.workflows.schedule import ScheduledPipelineWorkflow

WORKFLOWS: Sequence[type] = (ETLWorkflow, DataIngestionWorkflow, ScheduledPipelineWorkflow, BackfillWorkflow,
                             OnboardingWorkflow)
GRACEFUL_SHUTDOWN = timedelta(seconds=8)
# Modules that are deterministic to import and heavy to re-import per workflow run (TEMPORAL-NOTES §6).
PASSTHROUGH_MODULES = ("polars", "pyarrow", "deltalake", "sqlalchemy", "psycopg", "httpx", "pydantic",
                       "etl_orchestrator")


def landing_dir(settings: Settings) -> Path:
    """Where downloads land before Bronze: beside a local lake, else a local scratch directory."""
    uri = settings.lake.uri
    if "://" not in uri or uri.startswith("file://"):
        return Path(uri.removeprefix("file://")) / "_landing"
    return Path(settings.dev.data_dir) / "landing"


def cpu_pool_of(settings: Settings) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.etl.workers.cpu_threads or os.cpu_count() or 2,
                              thread_name_prefix="etl-cpu")


def build_worker(client: Client, settings: Settings, *, task_queue: str | None = None,
                 cpu_pool: ThreadPoolExecutor | None = None) -> Worker:
    workers = settings.etl.workers
    cpu_pool = cpu_pool or cpu_pool_of(settings)
    lake = Lake(settings.lake.uri)
    ingestion = IngestionActivities(settings, cpu_pool=cpu_pool, lake=lake, landing_dir=landing_dir(settings))
    layers = LayerActivities(settings, cpu_pool=cpu_pool, lake=lake)
    partition = PartitionActivities(settings, cpu_pool=cpu_pool, ingestion=ingestion, layers=layers)
    orchestration = OrchestrationActivities(settings, cpu_pool=cpu_pool, temporal=client)
    onboarding = OnboardingActivities(settings, cpu_pool=cpu_pool, temporal=client)
    return Worker(
        client,
        task_queue=task_queue or settings.etl.temporal.task_queue,
        workflows=list(WORKFLOWS),
        activities=[ingestion.request_report, ingestion.check_report, ingestion.ingest_to_bronze,
                    partition.run_partition, layers.begin_execution,
                    layers.record_partition_failure, layers.finish_execution, layers.refresh_pacing,
                    orchestration.prepare_scheduled_run, orchestration.plan_backfill_partitions,
                    orchestration.record_backfill_status, *onboarding.activities()],
        max_concurrent_activities=workers.max_concurrent_activities,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    """A worker per task queue (main, backfill), sharing one CPU pool."""
    cpu_pool = cpu_pool_of(settings)
    queues = dict.fromkeys([settings.etl.temporal.task_queue, settings.etl.temporal.backfill_task_queue])
    return [build_worker(client, settings, task_queue=queue, cpu_pool=cpu_pool) for queue in queues]


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
        workers = build_workers(client, settings)
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            await stop.wait()
            # Stop polling on every queue at once, then wait for running activities (graceful drain).
            await asyncio.gather(*(worker.shutdown() for worker in workers))
    finally:
        stop.set()
        await events
