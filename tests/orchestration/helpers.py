"""Helpers of the orchestration tests: principals, pipelines on a fault scope, waiting, and watching attempts.

Attempts of an activity are observed the way an operator would: Temporal's ``describe`` shows the
pending activity's last start time (polled every 100 ms; every retry waits at least 1 s, so none is
missed) and the history records the start of the last attempt.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import httpx
import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from etl_orchestrator.db.models import etl_executions
from etl_orchestrator.service.context import Principal
from tests.sandbox.scripting import SandboxScope
from tests.support import Tenant, create_tenant

ADMIN = Principal(key_id="orchestration-tests", org_id=None, is_admin=True)
TERMINAL = ("completed", "failed", "cancelled")


def principal_of(tenant: Tenant) -> Principal:
    return Principal(key_id=f"tenant-{tenant.org_id}", org_id=tenant.org_id, is_admin=False)


async def scoped_tenant(database_url: str, scope: SandboxScope, advertiser_id: str | None = None,
                        **config: Any) -> Tenant:
    """A new organization with a DV360 pipeline that talks to the sandbox as ``scope``."""
    source = {"base_url": scope.url, "token": scope.token, **config}
    if advertiser_id is not None:
        source["advertiser_ids"] = [advertiser_id]
    return await create_tenant(database_url, source_config=source)


async def execution_row(engine: AsyncEngine, execution_id: UUID | str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(etl_executions).where(etl_executions.c.id == UUID(str(execution_id))))
               ).mappings().first()
    assert row is not None, f"no execution {execution_id}"
    return dict(row)


async def wait_execution(engine: AsyncEngine, execution_id: UUID | str, *, timeout_s: float = 60.0,
                         statuses: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        row = await execution_row(engine, execution_id)
        if row["status"] in statuses:
            return row
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} still {row['status']} after {timeout_s}s")
        await asyncio.sleep(0.1)


async def wait_until(check, *, timeout_s: float, what: str, interval_s: float = 0.1):
    """Await ``check()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s}s")
        await asyncio.sleep(interval_s)


async def sandbox_stats(scope: SandboxScope) -> dict[str, int]:
    return (await scope.stats())["requests"]


def gold_counts(database_url: str, pipeline_id: UUID | str) -> dict[date, tuple[int, int]]:
    """Per date: (rows, distinct grains) of the pipeline's ``gold.campaign_daily``."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT date, count(*), count(DISTINCT (source, advertiser_id, campaign_id, insertion_order_id, "
            "line_item_id)) FROM gold.campaign_daily WHERE pipeline_id = %s GROUP BY date", (str(pipeline_id),)
        ).fetchall()
    return {day: (count, distinct) for day, count, distinct in rows}


async def wait_for_poller(client: Client, task_queue: str, identity_part: str, *, timeout_s: float = 60.0) -> None:
    """Until a worker whose identity contains ``identity_part`` (e.g. its pid) polls ``task_queue``."""

    async def polling() -> bool:
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
        return any(identity_part in poller.identity for poller in response.pollers)

    await wait_until(polling, timeout_s=timeout_s, what=f"a worker ({identity_part}) polling {task_queue}")


@dataclass
class AttemptLog:
    """What Temporal showed of one activity's attempts (numbered from 1).

    While an attempt runs, ``describe`` shows its start; while the next one waits, it shows when the
    failed one ended and when the next is due. A quick attempt can start and fail between two polls:
    its start is then taken as the time Temporal scheduled it (they differ by milliseconds).
    """

    count: int = 0
    starts: dict[int, datetime] = field(default_factory=dict)
    ends: dict[int, datetime] = field(default_factory=dict)
    due: dict[int, datetime] = field(default_factory=dict)
    heartbeats: list[Any] = field(default_factory=list)

    def start(self, attempt: int) -> datetime:
        return self.starts.get(attempt) or self.due[attempt]

    @property
    def waits(self) -> list[float]:
        """How long Temporal waited after each failed attempt before starting the next one."""
        return [round((self.start(attempt + 1) - self.ends[attempt]).total_seconds(), 2)
                for attempt in range(1, self.count)]

    def duration(self, attempt: int) -> float:
        """Seconds a failed attempt ran (its start must have been seen)."""
        return (self.ends[attempt] - self.starts[attempt]).total_seconds()


async def watch_attempts(client: Client, workflow_id: str, activity_type: str, *,
                         timeout_s: float = 90.0) -> AttemptLog:
    """Poll the workflow every 100 ms until it closes, collecting the activity's attempts."""
    handle = client.get_workflow_handle(workflow_id)
    log = AttemptLog()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            description = await handle.describe()
        except RPCError:  # not started yet
            await asyncio.sleep(0.05)
            continue
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name != activity_type:
                continue
            attempt = pending.attempt
            if pending.HasField("last_started_time"):  # attempt ``attempt`` is running
                log.starts[attempt] = pending.last_started_time.ToDatetime(tzinfo=UTC)
            elif attempt > 1 and pending.HasField("last_attempt_complete_time"):  # waiting to retry
                log.ends[attempt - 1] = pending.last_attempt_complete_time.ToDatetime(tzinfo=UTC)
                if pending.HasField("next_attempt_schedule_time"):
                    log.due[attempt] = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            if pending.HasField("heartbeat_details"):
                details = await client.data_converter.decode(pending.heartbeat_details.payloads)
                log.heartbeats.append(details[-1] if details else None)
        if description.status is not WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.1)
    # The history keeps the last attempt's start, with its number: how many attempts there were.
    scheduled: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if scheduled.get(started.scheduled_event_id) == activity_type:
                log.count = max(log.count, started.attempt)
                log.starts.setdefault(started.attempt, event.event_time.ToDatetime(tzinfo=UTC))
    return log


async def sandbox_info(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/_sandbox/info")
    response.raise_for_status()
    return response.json()
