"""Onboarding over REST: admin only, validated up front, followed step by step to the new org's key."""

from __future__ import annotations

import asyncio
import time
import uuid

PREFIX = "/api/v1/etl"


async def test_onboarding_creates_the_org_and_delivers_its_key_once(client, admin_headers, dsp_sandbox):
    slug = f"onboarded-{uuid.uuid4().hex[:8]}"
    started = await client.post(f"{PREFIX}/onboarding", headers=admin_headers, json={
        "org_name": "Onboarded Inc", "org_slug": slug, "initial_backfill_days": 0,
        "source_config": {"base_url": dsp_sandbox.url, "token": dsp_sandbox.token}})
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["onboarding_id"]
    deadline = time.monotonic() + 60
    while True:
        onboarding = (await client.get(f"{PREFIX}/onboarding/{onboarding_id}", headers=admin_headers)).json()
        if onboarding["status"] != "running":
            break
        assert time.monotonic() < deadline, onboarding
        await asyncio.sleep(0.2)
    assert onboarding["status"] == "completed", onboarding
    assert onboarding["api_key"].startswith("etl_") and len(onboarding["pipeline_ids"]) == 1
    assert {step["status"] for step in onboarding["steps"]} == {"completed"}
    org_headers = {"Authorization": f"Bearer {onboarding['api_key']}"}
    pipelines = (await client.get(f"{PREFIX}/pipelines", headers=org_headers)).json()["pipelines"]
    assert [pipeline["id"] for pipeline in pipelines] == onboarding["pipeline_ids"]
    again = (await client.get(f"{PREFIX}/onboarding/{onboarding_id}", headers=admin_headers)).json()
    assert again["api_key"] is None and again["api_key_delivered"] is True


async def test_onboarding_is_admin_only_and_validated(client, tenant, admin_headers, dsp_sandbox):
    body = {"org_name": "Nope", "source_config": {"base_url": dsp_sandbox.url, "token": "t"}}
    assert (await client.post(f"{PREFIX}/onboarding", headers=tenant.headers, json=body)).status_code == 404
    assert (await client.get(f"{PREFIX}/onboarding/{uuid.uuid4()}", headers=tenant.headers)).status_code == 404
    assert (await client.get(f"{PREFIX}/onboarding/{uuid.uuid4()}", headers=admin_headers)).status_code == 404
    for overrides, field in (({"source_kind": "myspace"}, "source_kind"),
                             ({"source_config": {"base_url": dsp_sandbox.url}}, "source_config.token"),
                             ({"initial_backfill_days": -1}, "initial_backfill_days"),
                             ({"pipelines": [{"name": "x", "schedule_cron": "nope"}]}, "pipelines[0].schedule_cron"),
                             # PostgreSQL refuses NUL in JSON: still a 422, never a 500.
                             ({"org_name": "nul\u0000"}, "request")):
        response = await client.post(f"{PREFIX}/onboarding", headers=admin_headers, json={**body, **overrides})
        assert response.status_code == 422 and response.json()["field"] == field, response.text
