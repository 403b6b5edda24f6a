"""A flaky, rate-limited source costs time, never rows: 10 % 5xx and 10 % 429 land exactly the clean rows."""

from __future__ import annotations

import asyncio
from datetime import date
from uuid import uuid4

import httpx
import psycopg

from tests.support import create_tenant, wait_for_execution

PREFIX = "/api/v1/etl"
DAY = date(2024, 11, 14)
FLAKY_RULES = [
    # First match wins and a rate rule that does not fire falls through, so these add up to
    # 10 % 5xx (500/503/504 alike) and 10 % 429 (half of them with Retry-After) on every endpoint.
    {"endpoint": "*", "status": 503, "rate": 0.05},
    {"endpoint": "*", "status": 500, "rate": 0.0527},
    {"endpoint": "*", "status": 429, "retry_after_s": 1, "rate": 0.0555},
    {"endpoint": "*", "status": 429, "rate": 0.0588},
]


async def _run(client: httpx.AsyncClient, tenant) -> dict:
    response = await client.post(PREFIX + "/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id, "parameters": {"date_range": {"start": str(DAY), "end": str(DAY)}}})
    response.raise_for_status()
    return await wait_for_execution(client, tenant, response.json()["execution_id"], timeout_s=150)


def _gold(database_url: str, pipeline_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT advertiser_id, campaign_id, insertion_order_id, line_item_id, currency, impressions, clicks, "
            "spend, revenue FROM gold.campaign_daily WHERE pipeline_id = %s AND date = %s ORDER BY line_item_id",
            (pipeline_id, DAY)).fetchall()


async def test_ten_percent_5xx_and_429_lands_exactly_the_rows_of_a_clean_run(stack, dsp_sandbox):
    # The sandbox draws each fault from its seed, the scope's token and the request's position, so a
    # fixed token replays the same faults every run. With a fresh token per run, the faults were
    # re-rolled each time and the test once failed in a full suite: the retry table gives a
    # rate-limited step 3 retries, and at these rates a request meets four 429s before an answer
    # once in 6,561 tries ((10 / 90) ** 4), which fails the partition exactly as the table says. That
    # is the contract at work, not a lost row, so the faults stay reproducible instead of re-rolled.
    clean_token, flaky_token = f"{dsp_sandbox.token}.{uuid4().hex}", f"{dsp_sandbox.token}.faulty-source"
    clean = await create_tenant(stack.settings.database.url,
                                source_config={"base_url": dsp_sandbox.url, "token": clean_token})
    flaky = await create_tenant(stack.settings.database.url,
                                source_config={"base_url": dsp_sandbox.url, "token": flaky_token})
    async with httpx.AsyncClient(base_url=dsp_sandbox.url) as sandbox:
        (await sandbox.put("/_sandbox/faults", json={"token": flaky_token, "rules": FLAKY_RULES})).raise_for_status()
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
            clean_run, flaky_run = await asyncio.gather(_run(client, clean), _run(client, flaky))
        stats = (await sandbox.get("/_sandbox/stats", params={"token": flaky_token})).json()

    assert clean_run["status"] == "completed", clean_run
    assert flaky_run["status"] == "completed", flaky_run
    assert sum(stats["faults"].values()) > 0, stats  # the source really misbehaved
    day = str(DAY)
    assert flaky_run["partitions"][day]["silver"]["content_hash"] == clean_run["partitions"][day]["silver"]["content_hash"]
    assert flaky_run["layers"]["bronze"]["records"] == clean_run["layers"]["bronze"]["records"] == dsp_sandbox.rows_per_day
    clean_gold, flaky_gold = _gold(stack.settings.database.url, clean.pipeline_id), _gold(
        stack.settings.database.url, flaky.pipeline_id)
    assert len(clean_gold) > 0
    assert flaky_gold == clean_gold
