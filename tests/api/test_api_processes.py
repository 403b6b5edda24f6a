"""``api.processes``: several API processes share the REST and gRPC ports and stop together."""

from __future__ import annotations

import httpx
import psutil
import psycopg
import pytest

from tests.api.conftest import another_api
from tests.orchestration.helpers import wait_until

PREFIX = "/api/v1/etl"


def lean_pool_pids(database_url: str) -> set[int]:
    """The API processes that have answered an authenticated request (each has its own lean pool)."""
    with psycopg.connect(database_url) as conn:
        names = conn.execute("SELECT application_name FROM pg_stat_activity "
                             "WHERE application_name LIKE 'etl-lean-pool:%'").fetchall()
    return {int(name.split(":")[1]) for (name,) in names}


@pytest.fixture
def two_process_api(stack):
    with another_api(stack, "api-two", ETL_API__PROCESSES="2") as api:
        yield api


async def test_two_api_processes_share_the_port_and_stop_together(stack, tenant, two_process_api):
    process, url = two_process_api
    parent = psutil.Process(process.pid)
    replicas = await wait_until(lambda: _children(parent), timeout_s=30, what="the replica process")
    assert len(replicas) == 1
    pids = {process.pid, replicas[0].pid}

    async def both_answered() -> bool:
        # A new connection each time: the kernel spreads connections, not requests, over the processes.
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await client.get(PREFIX + "/executions", headers=tenant.headers, params={"limit": 1})
        assert response.status_code == 200, response.text
        return pids <= lean_pool_pids(stack.settings.database.url)

    await wait_until(both_answered, timeout_s=30, what="requests answered by both processes", interval_s=0)
    process.stop(10)
    assert not psutil.pid_exists(replicas[0].pid) or replicas[0].status() == psutil.STATUS_ZOMBIE


async def _children(parent: psutil.Process) -> list[psutil.Process]:
    return [child for child in parent.children() if "--replica" in child.cmdline()]
