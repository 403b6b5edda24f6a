"""The seed's retry table, live: real ETL runs against the sandbox's scripted faults on the dev server.

| failure    | retries | wait                                   |
|------------|---------|----------------------------------------|
| network    | 5       | 1, 2, 4, 8, 16 s                       |
| rate limit | 3       | the source's Retry-After, else default |
| data       | 0       | —                                      |
| timeout    | 3       | exponential (1, 2, 4 s)                |

Each scenario is its own pipeline on its own sandbox scope; all run at once (module fixture), on a
worker of their own whose rate-limit default wait is 2 s. Attempt counts come from the sandbox's
request counters, waits from Temporal (each failed attempt's end to the next attempt's start, see
``helpers.watch_attempts``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from etl_orchestrator.lake.delta import partition_row_count
from etl_orchestrator.service.executions import etl_workflow_id, trigger_execution
from tests.orchestration.helpers import (
    AttemptLog,
    principal_of,
    sandbox_stats,
    scoped_tenant,
    wait_execution,
    wait_for_poller,
    watch_attempts,
)
from tests.sandbox.scripting import SandboxScope
from tests.support import Tenant

DAY = date(2024, 10, 7)
TOLERANCE_S = 0.6


@dataclass
class Outcome:
    tenant: Tenant
    execution: dict[str, Any]
    attempts: AttemptLog
    requests: dict[str, int]


async def _scenario(ctx, client, database_url: str, scope: SandboxScope, advertiser: dict[str, Any],
                    rules: list[dict[str, Any]], **source: Any) -> Outcome:
    tenant = await scoped_tenant(database_url, scope, advertiser["advertiserId"], **source)
    await scope.script(*rules)
    triggered = await trigger_execution(ctx, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id), start=DAY,
                                        end=DAY, task_queue=ctx.settings.etl.temporal.task_queue)
    # Every layer of the partition runs in one run_partition activity; its steps share the retry table.
    attempts = await watch_attempts(client, etl_workflow_id(UUID(tenant.pipeline_id), DAY, DAY), "run_partition")
    execution = await wait_execution(ctx.engine, triggered.execution_id, timeout_s=60)
    return Outcome(tenant, execution, attempts, await sandbox_stats(scope))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def outcomes(stack, workers, context_for, temporal_client, dsp_sandbox, advertiser) -> dict[str, Outcome]:
    """Every scenario of the table, run concurrently on one worker process of their own."""
    queue, backfill_queue = workers.queues("retry")
    overrides = {"ETL_RETRY__RATE_LIMIT__DEFAULT_WAIT": "2s"}
    worker = workers.start("worker-retry", queue, backfill_queue, **overrides)
    await wait_for_poller(temporal_client, queue, f"{worker.pid}@")
    ctx = context_for(workers.settings(queue, backfill_queue, **overrides))
    database_url = stack.settings.database.url
    scopes = {name: SandboxScope.fresh(dsp_sandbox) for name in
              ("network", "rate_limit", "data_400", "data_failed", "timeout", "mixed", "truncated")}

    def run(name: str, rules: list[dict[str, Any]], **kwargs: Any):
        return _scenario(ctx, temporal_client, database_url, scopes[name], advertiser, rules, **kwargs)

    names, runs = zip(*{
        # More faults scripted than the budget allows: the retry table, not the script, must stop it.
        "network": run("network", [{"endpoint": "create_query", "status": 503, "times": 10}]),
        "rate_limit": run("rate_limit", [
            {"endpoint": "run_query", "status": 429, "retry_after_s": 3, "times": 2},
            {"endpoint": "run_query", "status": 429, "times": 10}]),
        "data_400": run("data_400", [{"endpoint": "create_query", "status": 400, "times": 10}]),
        "data_failed": run("data_failed", [{"endpoint": "run_query", "fail_report": True, "times": 10}]),
        "timeout": run("timeout", [{"endpoint": "create_query", "delay_s": 2.5, "times": 10}], timeout_s=1),
        "mixed": run("mixed", [
            {"endpoint": "create_query", "status": 503, "times": 2},
            {"endpoint": "create_query", "delay_s": 2.5, "times": 1},
            {"endpoint": "run_query", "status": 429, "retry_after_s": 1, "times": 1}], timeout_s=1),
        "truncated": run("truncated", [{"endpoint": "download", "truncate_fraction": 0.5, "times": 1}],
                         chunk_bytes=4096),
    }.items(), strict=True)
    try:
        results = await asyncio.gather(*runs)
    finally:
        for scope in scopes.values():
            await scope.forget()
    return dict(zip(names, results, strict=True))


def assert_waits(attempts: AttemptLog, expected: list[float]) -> None:
    waits = attempts.waits
    assert len(waits) == len(expected), (waits, expected)
    for seen, wanted in zip(waits, expected, strict=True):
        assert seen == pytest.approx(wanted, abs=TOLERANCE_S), (waits, expected)


def bronze_error(outcome: Outcome) -> str:
    return outcome.execution["result"]["partitions"][DAY.isoformat()]["bronze"]["error"]


async def test_network_errors_retry_five_times_at_1_2_4_8_16_seconds_then_fail(outcomes):
    outcome = outcomes["network"]
    assert outcome.attempts.count == 6  # 1 attempt + 5 retries, though 10 faults were scripted
    assert outcome.requests["create_query"] == 6
    assert_waits(outcome.attempts, [1, 2, 4, 8, 16])
    assert outcome.execution["status"] == "failed"
    assert "NetworkError" in bronze_error(outcome) and "HTTP 503" in bronze_error(outcome)


async def test_rate_limits_retry_three_times_waiting_retry_after_or_the_default(outcomes):
    outcome = outcomes["rate_limit"]
    assert outcome.attempts.count == 4
    assert outcome.requests["run_query"] == 4
    # Retry-After: 3 twice, then no Retry-After: the configured default (2 s on this worker).
    assert_waits(outcome.attempts, [3, 3, 2])
    assert outcome.execution["status"] == "failed"
    assert "RateLimitError" in bronze_error(outcome) and "HTTP 429" in bronze_error(outcome)


@pytest.mark.parametrize("scenario", ["data_400", "data_failed"])
async def test_data_errors_fail_at_once(outcomes, scenario):
    outcome = outcomes[scenario]
    assert outcome.requests.get("create_query") == 1
    assert outcome.attempts.count == 1
    assert outcome.execution["status"] == "failed"
    assert "DataError" in bronze_error(outcome)
    assert ("HTTP 400" if scenario == "data_400" else "FAILED") in bronze_error(outcome)


async def test_timeouts_retry_three_times_exponentially(outcomes):
    outcome = outcomes["timeout"]
    assert outcome.attempts.count == 4
    # (On a starved machine an attempt can time out before its request reaches the sandbox.)
    assert 1 <= outcome.requests["create_query"] <= 4
    # Each attempt spends the 1 s client timeout, then waits 1, 2, 4 s.
    assert_waits(outcome.attempts, [1, 2, 4])
    assert all(outcome.attempts.duration(attempt) >= 1 for attempt in (1, 2, 3))  # the client's timeout_s
    assert outcome.execution["status"] == "failed"
    assert "ReadTimeout" in bronze_error(outcome)


async def test_each_class_has_its_own_budget_and_backoff(outcomes):
    """network, network, timeout, rate limit, then success: every class starts its backoff afresh."""
    outcome = outcomes["mixed"]
    assert outcome.execution["status"] == "completed", outcome.execution["error"]
    assert outcome.attempts.count == 5
    # The fourth attempt created the query before it was rate-limited: the fifth resumed with it.
    assert (outcome.requests["create_query"], outcome.requests["run_query"]) == (4, 2)
    # net #1 waits 1, net #2 waits 2, timeout #1 waits 1 — not 4, as a shared count would give —,
    # rate limit #1 waits its Retry-After of 1.
    assert_waits(outcome.attempts, [1, 2, 1, 1])


async def test_a_cut_download_resumes_from_its_heartbeat_checkpoint(outcomes, stack):
    outcome = outcomes["truncated"]
    assert outcome.execution["status"] == "completed", outcome.execution["error"]
    assert outcome.requests["download"] == 2
    assert outcome.attempts.count == 2
    assert_waits(outcome.attempts, [1])  # a cut connection is a network error
    # Between the attempts Temporal held the checkpoint the first one heartbeated: bytes landed so far.
    checkpoints = [details["checkpoint"].get("bytes", 0) for details in outcome.attempts.heartbeats
                   if isinstance(details, dict)]
    assert checkpoints and max(checkpoints) > 0
    partition = PartitionRef(org_id=outcome.tenant.org_id, pipeline_id=UUID(outcome.tenant.pipeline_id), date=DAY)
    bronze_rows = partition_row_count(Lake.of(stack.settings.lake.uri).bronze("dv360"), partition)
    assert bronze_rows == outcome.execution["result"]["layers"]["bronze"]["records"] > 0
