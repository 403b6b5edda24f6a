"""``api.processes``: several API processes share the REST and gRPC ports and stop together."""

from __future__ import annotations

import httpx
import psutil
import psycopg
import pytest

from etl_orchestrator.embedded import ManagedProcess, free_port
from tests.conftest import wait_http
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
    port = free_port()
    env = {**stack.env, "ETL_API__PORT": str(port), "ETL_API__GRPC_PORT": str(free_port()),
           "ETL_API__PROCESSES": "2"}
    process = ManagedProcess("api-two", stack.cli("api"), log_path=stack.logs / "api-two.log", env=env).start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=30, process=process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop(10)


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
