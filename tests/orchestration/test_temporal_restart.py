"""A backfill outlives its Temporal server: killed mid-run and restarted on the same database file, it finishes."""

from __future__ import annotations

import asyncio
import signal
from datetime import date, timedelta
from uuid import UUID

from etl_orchestrator.config import load_settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.embedded import free_port, start_temporal
from etl_orchestrator.service import backfills
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.temporal_client import connect_temporal
from tests.conftest import NAMESPACE
from tests.orchestration.helpers import gold_counts, principal_of, scoped_tenant, wait_for_poller
from tests.orchestration.test_backfill import executions_by_status, ledger, wait_backfill
from tests.sandbox.scripting import SandboxScope


async def test_a_backfill_finishes_after_the_temporal_server_is_killed_and_restarted(
        stack, workers, dsp_sandbox, advertiser, tmp_path):
    ports = {"port": free_port(), "http_port": free_port(), "metrics_port": free_port()}

    def server():
        return start_temporal(**ports, ui_port=None, namespace=NAMESPACE, db_file=tmp_path / "temporal.db",
                              log_path=tmp_path / "temporal.log")

    temporal = server()
    address = f"127.0.0.1:{ports['port']}"
    queue, backfill_queue = workers.queues("restart")
    overrides = {"TEMPORAL_ADDRESS": address}
    worker = workers.start("worker-restart", queue, backfill_queue, **overrides)
    settings = load_settings(environ=workers.environment(queue, backfill_queue, **overrides))
    client = await connect_temporal(settings)
    ctx = ServiceContext(settings=settings, engine=make_async_engine(stack.settings.database.url, pool_size=3),
                         temporal=client)
    try:
        await wait_for_poller(client, backfill_queue, f"{worker.pid}@")
        scope = SandboxScope.fresh(dsp_sandbox)
        tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
        start, end = date(2024, 2, 1), date(2024, 2, 12)
        created = await backfills.create_backfill(ctx, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id),
                                                  start=start, end=end, parallelism=3, children_per_run=5)
        await wait_backfill(ctx, created["backfill_id"], timeout_s=60,
                            check=lambda view: view["progress"]["done"] >= 3)
        temporal.signal(signal.SIGKILL)
        await asyncio.to_thread(temporal.popen.wait, 10)
        await asyncio.sleep(1.0)  # work in flight meets a dead server
        temporal = server()

        done = await wait_backfill(ctx, created["backfill_id"], timeout_s=150)
        assert done["status"] == "completed", done
        assert (done["progress"]["done"], done["progress"]["failed"]) == (12, 0)
        days = [start + timedelta(days=offset) for offset in range(12)]
        partitions = ledger(stack.settings.database.url, tenant.pipeline_id)
        gold = gold_counts(stack.settings.database.url, tenant.pipeline_id)
        for day in days:
            assert partitions[day][0] == "completed"
            assert gold[day][0] == gold[day][1] == partitions[day][1] > 0, day
        assert await executions_by_status(ctx, created["backfill_id"]) == {"completed": 12}
    finally:
        worker.stop(10)
        temporal.stop(8)
        await ctx.engine.dispose()
