"""Pipelines over REST: validation naming the field, write-only secrets, merge updates, 409 on a
duplicate name, and the Temporal Schedule following every create, update and delete."""

from __future__ import annotations

import uuid

import pytest

PREFIX = "/api/v1/etl"


def pipeline_body(dsp_sandbox, **overrides):
    return {"name": f"Pipeline {uuid.uuid4().hex[:8]}", "source_kind": "dv360",
            "source_config": {"base_url": dsp_sandbox.url, "token": dsp_sandbox.token}, **overrides}


async def test_create_get_list_and_secrets_stay_write_only(client, tenant, dsp_sandbox):
    body = pipeline_body(dsp_sandbox, webhook_url="https://example.com/hook", webhook_secret="s3cret",
                         restatement_days=3)
    response = await client.post(f"{PREFIX}/pipelines", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["org_id"] == tenant.org_id and created["name"] == body["name"]
    assert created["source_config"] == {"base_url": dsp_sandbox.url, "token": "********"}
    assert created["webhook_secret_set"] is True and "webhook_secret" not in created
    assert created["schedule_state"] == "none" and created["restatement_days"] == 3
    assert dsp_sandbox.token not in response.text

    fetched = (await client.get(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers)).json()
    assert fetched == created
    listed = (await client.get(f"{PREFIX}/pipelines", headers=tenant.headers)).json()
    assert {pipeline["id"] for pipeline in listed["pipelines"]} == {created["id"], tenant.pipeline_id}


async def test_listing_pages_with_a_cursor(client, tenant, dsp_sandbox):
    for _ in range(3):
        assert (await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox),
                                  headers=tenant.headers)).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{PREFIX}/pipelines", params=params, headers=tenant.headers)).json()
        seen += [pipeline["id"] for pipeline in page["pipelines"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4


async def test_duplicate_name_in_the_org_is_409(client, tenant, other_tenant, dsp_sandbox):
    body = pipeline_body(dsp_sandbox)
    assert (await client.post(f"{PREFIX}/pipelines", json=body, headers=tenant.headers)).status_code == 201
    duplicate = await client.post(f"{PREFIX}/pipelines", json=body, headers=tenant.headers)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"].startswith("application/problem+json")
    # The same name in another organization is fine.
    assert (await client.post(f"{PREFIX}/pipelines", json=body, headers=other_tenant.headers)).status_code == 201


@pytest.mark.parametrize(("overrides", "field"), [
    ({"source_kind": "myspace"}, "source_kind"),
    ({"source_config": {"base_url": "http://x"}}, "source_config.token"),
    ({"schedule_cron": "61 * * * *"}, "schedule_cron"),
    ({"schedule_cron": "0 6 * * *", "schedule_timezone": "Mars/Olympus"}, "schedule_timezone"),
    ({"quality_rules": [{"type": "not_null", "columns": ["no_such_column"]}]}, "quality_rules"),
    ({"quality_rules": [{"type": "teleport"}]}, "quality_rules"),
    ({"webhook_url": "ftp://example.com"}, "webhook_url"),
    ({"restatement_days": 61}, "restatement_days"),
    ({"catchup_window_s": -1}, "catchup_window_s"),
    ({"name": "tab\tname"}, "name"),
    ({"source_config": {"base_url": "http://x", "token": "nul\u0000"}}, "source_config.token"),
    ({"colour": "blue"}, "colour"),
])
async def test_invalid_pipeline_is_422_naming_the_field(client, tenant, dsp_sandbox, overrides, field):
    response = await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox, **overrides),
                                 headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_a_cron_creates_the_schedule_and_updates_and_delete_follow(client, tenant, dsp_sandbox):
    body = pipeline_body(dsp_sandbox, schedule_cron="0 6 * * *", schedule_timezone="Europe/Berlin")
    created = (await client.post(f"{PREFIX}/pipelines", json=body, headers=tenant.headers)).json()
    assert created["schedule_state"] == "active" and created["schedule_id"]
    schedule_url = f"{PREFIX}/pipelines/{created['id']}/schedule"
    schedule = (await client.get(schedule_url, headers=tenant.headers)).json()
    assert schedule["state"] == "active" and schedule["cron"] == "0 6 * * *"
    assert schedule["timezone"] == "Europe/Berlin" and len(schedule["next_runs"]) == 5

    changed = await client.patch(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers,
                                 json={"schedule_cron": "30 7 * * *", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule_state"] == "paused"  # a disabled pipeline's schedule exists, paused
    schedule = (await client.get(schedule_url, headers=tenant.headers)).json()
    assert schedule["cron"] == "30 7 * * *" and schedule["state"] == "paused"

    removed = await client.patch(f"{PREFIX}/pipelines/{created['id']}", json={"schedule_cron": None},
                                 headers=tenant.headers)
    assert removed.json()["schedule_state"] == "none" and removed.json()["schedule_id"] is None
    assert (await client.get(schedule_url, headers=tenant.headers)).json()["state"] == "none"

    assert (await client.patch(f"{PREFIX}/pipelines/{created['id']}", json={"schedule_cron": "0 1 * * *"},
                               headers=tenant.headers)).json()["schedule_state"] == "paused"  # still disabled
    deleted = await client.delete(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers)).status_code == 404
    assert (await client.get(schedule_url, headers=tenant.headers)).status_code == 404


async def test_update_merges_the_source_config_and_keeps_the_secret(client, tenant, dsp_sandbox, stack):
    import psycopg

    created = (await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox),
                                 headers=tenant.headers)).json()
    response = await client.patch(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers,
                                  json={"source_config": {"timeout_s": 12, "token": "********"},
                                        "webhook_url": "http://hooks.example/etl"})
    assert response.status_code == 200, response.text
    assert response.json()["source_config"] == {"base_url": dsp_sandbox.url, "token": "********", "timeout_s": 12}
    with psycopg.connect(stack.settings.database.url) as conn:
        stored = conn.execute("SELECT source_config FROM pipelines WHERE id = %s", (created["id"],)).fetchone()[0]
    assert stored["token"] == dsp_sandbox.token  # the mask meant "keep it"

    null_name = await client.patch(f"{PREFIX}/pipelines/{created['id']}", json={"name": None},
                                   headers=tenant.headers)
    assert null_name.status_code == 422 and null_name.json()["field"] == "name"
    renamed_to_taken = await client.patch(f"{PREFIX}/pipelines/{created['id']}", headers=tenant.headers,
                                          json={"name": (await client.get(
                                              f"{PREFIX}/pipelines/{tenant.pipeline_id}",
                                              headers=tenant.headers)).json()["name"]})
    assert renamed_to_taken.status_code == 409


async def test_admin_creates_pipelines_in_a_named_org(client, tenant, admin_headers, dsp_sandbox):
    without_org = await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox), headers=admin_headers)
    assert without_org.status_code == 422 and without_org.json()["field"] == "org_id"
    created = await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox, org_id=tenant.org_id),
                                headers=admin_headers)
    assert created.status_code == 201 and created.json()["org_id"] == tenant.org_id
    missing_org = await client.post(f"{PREFIX}/pipelines", json=pipeline_body(dsp_sandbox, org_id=2**31 - 1),
                                    headers=admin_headers)
    assert missing_org.status_code == 404
