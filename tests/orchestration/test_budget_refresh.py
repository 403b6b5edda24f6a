"""Budget refresh: partitions of one pipeline that start together ask the source for budgets once.

Each partition's ingestion refreshes the pipeline's insertion-order budgets when they are stale.
Partitions run concurrently in a worker (a burst of triggers, a backfill's first days) share the
first one's refresh; if it fails, a waiting partition refreshes instead. The source is the
session's sandbox, on a fault scope of each test's own, whose request counts are exact.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from temporalio.testing import ActivityEnvironment

from etl_orchestrator.activities.ingestion import IngestionActivities
from etl_orchestrator.activities.retrying import ActivityState
from etl_orchestrator.config import load_settings
from etl_orchestrator.connectors import build_connector
from etl_orchestrator.domain.errors import NetworkError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from tests.sandbox.scripting import SandboxScope
from tests.support import create_tenant

PARTITIONS = 6


async def refresh_together(database_url: str, tmp_path: Path, scope: SandboxScope, advertiser: dict[str, Any]
                           ) -> tuple[list[int | BaseException], str]:
    """``PARTITIONS`` partitions of one new pipeline refresh its budgets at once: what each returned or raised."""
    config = scope.dv360_config(advertiser)
    tenant = await create_tenant(database_url, source_config=config)
    settings = load_settings(environ={"DATABASE_URL": database_url, "LAKE_URI": str(tmp_path / "lake")})
    with ThreadPoolExecutor(2) as pool:
        ingestion = IngestionActivities(settings, cpu_pool=pool, lake=Lake(tmp_path / "lake"),
                                        landing_dir=tmp_path / "landing")

        async def partition(day: date) -> int:
            connector = build_connector("dv360", config)
            try:
                ref = PartitionRef(org_id=tenant.org_id, pipeline_id=uuid.UUID(tenant.pipeline_id), date=day)
                return await ActivityEnvironment().run(ingestion._refresh_budgets, connector, ref, ActivityState())
            finally:
                await connector.aclose()

        days = [date(2026, 3, 1) + timedelta(days=index) for index in range(PARTITIONS)]
        outcomes = await asyncio.gather(*(partition(day) for day in days), return_exceptions=True)
    return outcomes, tenant.pipeline_id


def budget_segments(database_url: str, pipeline_id: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM gold.budget_segments WHERE pipeline_id = %s",
                                  (pipeline_id,)).fetchone()[0]


async def test_partitions_started_together_ask_the_source_for_budgets_once(
        database_url, dsp_sandbox, advertiser, tmp_path: Path):
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script()
    outcomes, pipeline_id = await refresh_together(database_url, tmp_path, scope, advertiser)

    requests = (await scope.stats())["requests"]
    assert requests.get("insertion_orders") == 1, requests
    loaded = budget_segments(database_url, pipeline_id)
    assert loaded > 0
    # One partition loaded the segments; the others found them fresh.
    assert sorted(outcomes) == [0] * (PARTITIONS - 1) + [loaded]


async def test_when_the_refreshing_partition_fails_a_waiting_one_refreshes(
        database_url, dsp_sandbox, advertiser, tmp_path: Path):
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script({"endpoint": "insertion_orders", "status": 503, "times": 1})
    outcomes, pipeline_id = await refresh_together(database_url, tmp_path, scope, advertiser)

    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], NetworkError), outcomes
    requests = (await scope.stats())["requests"]
    assert requests.get("insertion_orders") == 2, requests  # the failed one, then one waiter's
    loaded = budget_segments(database_url, pipeline_id)
    assert sorted(outcome for outcome in outcomes if not isinstance(outcome, BaseException)) == \
        [0] * (PARTITIONS - 2) + [loaded]

