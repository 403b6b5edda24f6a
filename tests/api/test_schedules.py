"""A pipeline's Temporal Schedule over REST: describe, pause (with a note), resume, fire now."""

from __future__ import annotations

import uuid

PREFIX = "/api/v1/etl"


async def scheduled_pipeline(client, tenant, dsp_sandbox, **overrides) -> str:
    response = await client.post(f"{PREFIX}/pipelines", headers=tenant.headers, json={
        "name": f"Scheduled {uuid.uuid4().hex[:8]}", "source_kind": "dv360", "schedule_cron": "0 6 * * *",
        "source_config": {"base_url": dsp_sandbox.url, "token": dsp_sandbox.token}, **overrides})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_pause_resume_and_trigger(client, tenant, dsp_sandbox):
    pipeline_id = await scheduled_pipeline(client, tenant, dsp_sandbox)
    base = f"{PREFIX}/pipelines/{pipeline_id}/schedule"
    paused = await client.post(f"{base}/pause", json={"note": "DSP maintenance"}, headers=tenant.headers)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["state"], paused.json()["note"]) == ("paused", "DSP maintenance")
    pipeline = (await client.get(f"{PREFIX}/pipelines/{pipeline_id}", headers=tenant.headers)).json()
    assert pipeline["schedule_state"] == "paused"  # the row mirrors Temporal

    resumed = await client.post(f"{base}/resume", headers=tenant.headers)
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"

    fired = await client.post(f"{base}/trigger", headers=tenant.headers)
    assert fired.status_code == 200, fired.text
    assert fired.json()["triggered_at"].endswith("Z")

    bare_pause = await client.post(f"{base}/pause", headers=tenant.headers)  # the body is optional
    assert bare_pause.status_code == 200 and bare_pause.json()["state"] == "paused"


async def test_a_pipeline_without_cron_has_no_schedule_to_act_on(client, tenant):
    base = f"{PREFIX}/pipelines/{tenant.pipeline_id}/schedule"
    described = await client.get(base, headers=tenant.headers)
    assert described.status_code == 200 and described.json()["state"] == "none"
    for action in ("pause", "resume", "trigger"):
        assert (await client.post(f"{base}/{action}", headers=tenant.headers)).status_code == 404


async def test_resuming_a_disabled_pipeline_is_409(client, tenant, dsp_sandbox):
    pipeline_id = await scheduled_pipeline(client, tenant, dsp_sandbox, enabled=False)
    response = await client.post(f"{PREFIX}/pipelines/{pipeline_id}/schedule/resume", headers=tenant.headers)
    assert response.status_code == 409
