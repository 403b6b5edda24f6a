"""Quarantine over REST: the rows Silver rejected (raw values, rules, reasons), and their replay with
changed rules as a new execution that releases them."""

from __future__ import annotations

import uuid

import pytest

from etl_orchestrator.quality.rules import default_rules, rules_to_json
from tests.sandbox.scripting import SandboxScope
from tests.support import create_tenant, wait_for_execution

PREFIX = "/api/v1/etl"
DAY = "2024-08-01"
BAD_ROWS = 4


@pytest.fixture
async def dirty_tenant(stack, dsp_sandbox):
    """A tenant whose reports carry rows with negative money (refunds: quarantined by the default rules)."""
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(bad_rows={"negative": {"count": BAD_ROWS}})
    yield await create_tenant(stack.settings.database.url, source_config={"base_url": scope.url, "token": scope.token})
    await scope.forget()


async def test_quarantined_rows_are_listed_and_a_replay_with_new_rules_releases_them(client, dirty_tenant):
    tenant = dirty_tenant
    triggered = await client.post(f"{PREFIX}/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id, "parameters": {"date_range": {"start": DAY, "end": DAY}}})
    assert (await wait_for_execution(client, tenant, triggered.json()["execution_id"]))["status"] == "completed"

    url = f"{PREFIX}/pipelines/{tenant.pipeline_id}/quarantine"
    page = (await client.get(url, params={"date_from": DAY, "date_to": DAY}, headers=tenant.headers)).json()
    assert page["total"] == BAD_ROWS and len(page["rows"]) == BAD_ROWS
    row = page["rows"][0]
    assert row["pipeline_id"] == tenant.pipeline_id and row["date"] == DAY
    assert row["rules"] == ["metrics_non_negative"] and len(row["reasons"]) == 1
    assert any(str(value).startswith("-") for value in row["raw"].values())
    assert row["quarantined_by"] == triggered.json()["execution_id"]
    second = (await client.get(url, params={"limit": 1, "offset": 1}, headers=tenant.headers)).json()
    assert second["rows"] == page["rows"][1:2] and second["total"] == BAD_ROWS

    lenient = [{**rule, "action": "warn"} if rule["name"] == "metrics_non_negative" else rule
               for rule in rules_to_json(default_rules())]
    patched = await client.patch(f"{PREFIX}/pipelines/{tenant.pipeline_id}", json={"quality_rules": lenient},
                                 headers=tenant.headers)
    assert patched.status_code == 200, patched.text
    replay = await client.post(f"{url}/replay", json={"date_range": {"start": DAY, "end": DAY}},
                               headers=tenant.headers)
    assert replay.status_code == 200, replay.text
    replayed = await wait_for_execution(client, tenant, replay.json()["execution_id"])
    assert (replayed["status"], replayed["mode"], replayed["trigger"]) == ("completed", "replay", "replay")
    assert (await client.get(url, headers=tenant.headers)).json()["total"] == 0


async def test_an_empty_quarantine_and_malformed_queries(client, tenant):
    url = f"{PREFIX}/pipelines/{tenant.pipeline_id}/quarantine"
    assert (await client.get(url, headers=tenant.headers)).json() == {"rows": [], "total": 0, "limit": 100,
                                                                       "offset": 0}
    for params, field in (({"date_from": "2024-02-02", "date_to": "2024-02-01"}, "date_from"),
                          ({"limit": 0}, "limit"), ({"offset": -1}, "offset"), ({"date_to": "soon"}, "date_to")):
        response = await client.get(url, params=params, headers=tenant.headers)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    replay = await client.post(f"{url}/replay", json={"date_range": {"start": "2024-02-02", "end": "2024-02-01"}},
                               headers=tenant.headers)
    assert replay.status_code == 422 and replay.json()["field"] == "date_range.end"
    too_long = await client.post(f"{url}/replay", json={"date_range": {"start": "2020-01-01", "end": "2024-01-01"}},
                                 headers=tenant.headers)
    assert too_long.status_code == 422 and too_long.json()["field"] == "date_range"
    unknown = f"{PREFIX}/pipelines/{uuid.uuid4()}/quarantine"
    assert (await client.get(unknown, headers=tenant.headers)).status_code == 404
