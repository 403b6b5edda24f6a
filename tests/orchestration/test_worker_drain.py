"""SIGTERM drains a worker: it stops taking work, finishes the activity it runs, exits 0; the run completes."""

from __future__ import annotations

import asyncio
import signal
from datetime import date
from uuid import UUID

from temporalio.api.enums.v1 import EventType, PendingActivityState

from etl_orchestrator.service.executions import etl_workflow_id, trigger_execution
from tests.orchestration.helpers import (
    principal_of,
    scoped_tenant,
    wait_execution,
    wait_for_poller,
    wait_until,
)
from tests.sandbox.scripting import SandboxScope

DAY = date(2024, 8, 12)
DOWNLOAD_DELAY_S = 3.0


async def test_sigterm_lets_the_running_activity_finish_and_the_run_completes(
        stack, workers, context_for, temporal_client, dsp_sandbox, advertiser):
    queue, backfill_queue = workers.queues("drain")
    first = workers.start("worker-drain-1", queue, backfill_queue)
    await wait_for_poller(temporal_client, queue, f"{first.pid}@")
    ctx = context_for(workers.settings(queue, backfill_queue))
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script({"endpoint": "download", "delay_s": DOWNLOAD_DELAY_S, "times": 1})
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    triggered = await trigger_execution(ctx, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id), start=DAY,
                                        end=DAY, task_queue=queue)
    etl = temporal_client.get_workflow_handle(etl_workflow_id(UUID(tenant.pipeline_id), DAY, DAY))

    async def downloading():
        try:
            pending = (await etl.describe()).raw_description.pending_activities
        except Exception:  # noqa: BLE001 — not started yet
            return None
        return [activity for activity in pending if activity.activity_type.name == "run_partition"
                and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]

    [running] = await wait_until(downloading, timeout_s=20, what="the download running")
    assert f"{first.pid}@" in running.last_worker_identity
    second = workers.start("worker-drain-2", queue, backfill_queue)  # somewhere for the rest of the run to go
    first.signal(signal.SIGTERM)

    exit_code = await asyncio.to_thread(first.popen.wait, 20)
    done = await wait_execution(ctx.engine, triggered.execution_id, timeout_s=40)
    downloads = (await scope.stats())["requests"].get("download", 0)
    await scope.forget()
    assert exit_code == 0
    assert done["status"] == "completed", done["error"]
    # The download finished on the draining worker, in its first attempt: nothing was lost or redone.
    starts = [event.activity_task_started_event_attributes async for event in etl.fetch_history_events()
              if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    completions = [event async for event in etl.fetch_history_events()
                   if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert len(completions) == len(starts) and all(start.attempt == 1 for start in starts)
    assert any(f"{first.pid}@" in start.identity for start in starts)
    assert downloads == 1
    second.stop(10)
