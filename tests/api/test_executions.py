"""Executions beyond the seed's shapes: one by id, keyset pages, cancel, retry."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import psycopg
from psycopg.types.json import Json

from etl_orchestrator.db.execution_store import aggregate_layers
from tests.support import wait_for_execution

PREFIX = "/api/v1/etl"


async def trigger(client, tenant, start: date, end: date | None = None, **parameters):
    response = await client.post(f"{PREFIX}/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id,
        "parameters": {"date_range": {"start": start.isoformat(), "end": (end or start).isoformat()}, **parameters}})
    assert response.status_code == 200, response.text
    return response.json()


def insert_executions(database_url: str, tenant, started: list[datetime]) -> list[str]:
    """Rows written directly: a worker beginning a run moves its started_at, which would move it between pages."""
    ids = []
    with psycopg.connect(database_url) as conn:
        for moment in started:
            execution_id = str(uuid.uuid4())
            conn.execute("INSERT INTO etl_executions (id, pipeline_id, org_id, status, started_at, date_start, "
                         "date_end, result) VALUES (%s, %s, %s, 'completed', %s, %s, %s, %s)",
                         (execution_id, tenant.pipeline_id, tenant.org_id, moment, moment.date(), moment.date(),
                          Json({"layers": aggregate_layers({}, 1), "partitions": {}})))
            ids.append(execution_id)
    return ids


async def test_listing_pages_with_a_keyset_cursor_newest_first(client, tenant, stack):
    noon = datetime(2023, 3, 1, 12, 0, 0)
    # Ties on started_at are broken by id, so a page boundary inside a tie loses nothing.
    started = [noon, noon, noon, noon + timedelta(seconds=1), noon - timedelta(days=1)]
    ids = insert_executions(stack.settings.database.url, tenant, started)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{PREFIX}/executions", params=params, headers=tenant.headers)).json()
        assert len(page["executions"]) <= 2
        seen += [(execution["started_at"], execution["id"]) for execution in page["executions"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(execution_id for _, execution_id in seen) == sorted(ids)
    assert seen == sorted(seen, reverse=True)


async def test_listing_filters(client, tenant, stack):
    [old, new] = insert_executions(stack.settings.database.url, tenant,
                                   [datetime(2023, 1, 10, 6), datetime(2023, 2, 10, 6)])
    async def listed(**params):
        response = await client.get(f"{PREFIX}/executions", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [execution["id"] for execution in response.json()["executions"]]

    assert await listed(date_from="2023-02-01") == [new]
    assert await listed(date_to="2023-01-31") == [old]
    assert await listed(date_from="2023-01-10", date_to="2023-01-10") == [old]
    assert await listed(status="completed", pipeline_id=tenant.pipeline_id) == [new, old]
    assert await listed(status="failed") == []
    assert await listed(pipeline_id=str(uuid.uuid4())) == []


async def test_an_unknown_query_parameter_is_refused_naming_it(client, tenant):
    # A misspelt filter must not silently answer the unfiltered listing.
    response = await client.get(f"{PREFIX}/executions", params={"stauts": "failed", "limit": 5},
                                headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "stauts"
    assert "unknown query parameter" in response.json()["detail"]
    response = await client.get(f"{PREFIX}/data-quality", params={"window": "7d", "extra": "1"}, headers=tenant.headers)
    assert response.status_code == 422 and response.json()["field"] == "extra", response.text
    response = await client.get(f"{PREFIX}/data-quality", params={"window": "7d"}, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def test_get_execution_has_the_detail_fields(client, tenant):
    triggered = await trigger(client, tenant, date(2023, 4, 1), date(2023, 4, 3))
    response = await client.get(f"{PREFIX}/executions/{triggered['execution_id']}", headers=tenant.headers)
    assert response.status_code == 200
    execution = response.json()
    assert execution["id"] == triggered["execution_id"] and execution["org_id"] == tenant.org_id
    assert execution["date_range"] == {"start": "2023-04-01", "end": "2023-04-03"}
    assert execution["trigger"] == "manual" and execution["mode"] == "full"
    assert set(execution["layer_progress"]) == {"bronze", "silver", "gold"}
    assert all(progress["total"] == 3 for progress in execution["layer_progress"].values())
    assert (await client.get(f"{PREFIX}/executions/{uuid.uuid4()}", headers=tenant.headers)).status_code == 404


async def test_cancel_ends_the_execution_cancelled_and_retry_starts_a_forced_one(client, tenant):
    triggered = await trigger(client, tenant, date(2023, 5, 1), date(2023, 5, 5))
    execution_id = triggered["execution_id"]
    cancel = await client.post(f"{PREFIX}/executions/{execution_id}/cancel", headers=tenant.headers)
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancel_requested"] is True
    cancelled = await wait_for_execution(client, tenant, execution_id, timeout_s=30)
    assert cancelled["status"] == "cancelled"

    again = await client.post(f"{PREFIX}/executions/{execution_id}/cancel", headers=tenant.headers)
    assert again.status_code == 409

    retry = await client.post(f"{PREFIX}/executions/{execution_id}/retry", headers=tenant.headers)
    assert retry.status_code == 200, retry.text
    retried_id = retry.json()["execution_id"]
    assert retried_id != execution_id and retry.json()["status"] == "scheduled"
    retried = (await client.get(f"{PREFIX}/executions/{retried_id}", headers=tenant.headers)).json()
    assert retried["trigger"] == "retry" and retried["force"] is True
    assert retried["date_range"] == {"start": "2023-05-01", "end": "2023-05-05"}

    live_retry = await client.post(f"{PREFIX}/executions/{retried_id}/retry", headers=tenant.headers)
    assert live_retry.status_code == 409  # only failed or cancelled executions are retried
    await client.post(f"{PREFIX}/executions/{retried_id}/cancel", headers=tenant.headers)


async def test_cancel_of_an_execution_temporal_never_heard_of_closes_it(client, tenant, stack):
    """An execution whose workflow is gone (a wiped Temporal) would otherwise stay live forever."""
    triggered = await trigger(client, tenant, date(2023, 6, 1))
    with psycopg.connect(stack.settings.database.url) as conn:
        conn.execute("UPDATE etl_executions SET workflow_id = %s, status = 'running' WHERE id = %s",
                     (f"gone:{uuid.uuid4()}", triggered["execution_id"]))
    cancel = await client.post(f"{PREFIX}/executions/{triggered['execution_id']}/cancel", headers=tenant.headers)
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancelled"
    logs = (await client.get(f"{PREFIX}/executions/{triggered['execution_id']}/logs",
                             headers=tenant.headers)).json()["logs"]
    assert logs[-1]["message"].startswith("Execution cancelled")
