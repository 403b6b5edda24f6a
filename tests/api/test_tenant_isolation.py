"""Two organizations: every read and write path of one, tried with the other's key and ids.

Everything answers 404 (never 403, so existence does not leak), listings filtered by the other's
ids come back empty, and afterwards the other organization's data is exactly as it was.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg.types.json import Json

from etl_orchestrator.db.execution_store import aggregate_layers

PREFIX = "/api/v1/etl"


def seed_victim(database_url: str, victim) -> dict[str, str]:
    """An execution, a backfill, a quality metric and the key id of the victim organization."""
    execution_id, backfill_id = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO etl_executions (id, pipeline_id, org_id, status, date_start, date_end, result, "
                     "workflow_id) VALUES (%s, %s, %s, 'failed', '2023-01-01', '2023-01-01', %s, %s)",
                     (execution_id, victim.pipeline_id, victim.org_id,
                      Json({"layers": aggregate_layers({}, 1), "partitions": {}}), f"isolation:{execution_id}"))
        conn.execute("INSERT INTO execution_logs (execution_id, org_id, level, message) VALUES (%s, %s, 'info', 'x')",
                     (execution_id, victim.org_id))
        conn.execute("INSERT INTO backfills (id, org_id, pipeline_id, workflow_id, date_start, date_end, parallelism, "
                     "status) VALUES (%s, %s, %s, %s, '2023-01-01', '2023-01-02', 1, 'running')",
                     (backfill_id, victim.org_id, victim.pipeline_id, f"backfill:{backfill_id}"))
        conn.execute("INSERT INTO data_quality_metrics (pipeline_id, org_id, execution_id, metric_type, count) "
                     "VALUES (%s, %s, %s, 'records_total', 10)", (victim.pipeline_id, victim.org_id, execution_id))
        key_id = conn.execute("SELECT id FROM api_keys WHERE org_id = %s", (victim.org_id,)).fetchone()[0]
    return {"execution": execution_id, "backfill": backfill_id, "key": str(key_id)}


def snapshot(database_url: str, victim) -> tuple:
    with psycopg.connect(database_url) as conn:
        return tuple(conn.execute(query, (victim.org_id,)).fetchall() for query in (
            "SELECT id, name, source_config, schedule_cron, enabled, updated_at FROM pipelines WHERE org_id = %s",
            "SELECT id, status, updated_at FROM etl_executions WHERE org_id = %s ORDER BY id",
            "SELECT id, status FROM backfills WHERE org_id = %s",
            "SELECT id, revoked_at FROM api_keys WHERE org_id = %s ORDER BY id",
            "SELECT id, name FROM organizations WHERE id = %s"))


async def test_one_org_can_neither_see_nor_change_another(client, tenant, other_tenant, stack, dsp_sandbox):
    attacker, victim = tenant, other_tenant
    ids = seed_victim(stack.settings.database.url, victim)
    before = snapshot(stack.settings.database.url, victim)
    pipeline, execution, backfill = victim.pipeline_id, ids["execution"], ids["backfill"]
    date_range = {"start": "2024-01-01", "end": "2024-01-01"}
    attempts = [
        ("GET", f"/executions/{execution}", None),
        ("GET", f"/executions/{execution}/logs", None),
        ("GET", f"/executions/{execution}/stream", None),
        ("POST", f"/executions/{execution}/cancel", None),
        ("POST", f"/executions/{execution}/retry", None),
        ("POST", "/trigger", {"pipeline_id": pipeline}),
        ("GET", f"/pipelines/{pipeline}", None),
        ("PATCH", f"/pipelines/{pipeline}", {"name": "pwned"}),
        ("DELETE", f"/pipelines/{pipeline}", None),
        ("GET", f"/pipelines/{pipeline}/schedule", None),
        ("POST", f"/pipelines/{pipeline}/schedule/pause", None),
        ("POST", f"/pipelines/{pipeline}/schedule/resume", None),
        ("POST", f"/pipelines/{pipeline}/schedule/trigger", None),
        ("GET", f"/pipelines/{pipeline}/quarantine", None),
        ("POST", f"/pipelines/{pipeline}/quarantine/replay", {"date_range": date_range}),
        ("GET", f"/pipelines/{pipeline}/webhook-deliveries", None),
        ("POST", "/backfills", {"pipeline_id": pipeline, "date_range": date_range}),
        ("GET", f"/backfills/{backfill}", None),
        ("POST", f"/backfills/{backfill}/pause", None),
        ("POST", f"/backfills/{backfill}/resume", None),
        ("POST", f"/backfills/{backfill}/cancel", None),
        ("GET", f"/organizations/{victim.org_id}", None),
        ("GET", f"/organizations/{victim.org_id}/api-keys", None),
        ("POST", f"/organizations/{victim.org_id}/api-keys", {"name": "backdoor"}),
        ("POST", f"/organizations/{victim.org_id}/api-keys/{ids['key']}/revoke", None),
        # The victim's key id under the attacker's own organization is not found either.
        ("POST", f"/organizations/{attacker.org_id}/api-keys/{ids['key']}/revoke", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, PREFIX + path, headers=attacker.headers, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert pipeline not in response.text and execution not in response.text

    async def listed(path: str, key: str, **params) -> list:
        response = await client.get(PREFIX + path, params=params, headers=attacker.headers)
        assert response.status_code == 200, response.text
        return response.json()[key]

    assert await listed("/executions", "executions", pipeline_id=pipeline) == []
    assert await listed("/executions", "executions") == []
    assert pipeline not in str(await listed("/pipelines", "pipelines"))
    assert await listed("/backfills", "backfills") == []
    assert await listed("/backfills", "backfills", pipeline_id=pipeline) == []
    assert await listed("/data-quality", "by_pipeline", pipeline_id=pipeline) == []

    assert snapshot(stack.settings.database.url, victim) == before
    assert (await client.get(f"{PREFIX}/pipelines/{pipeline}", headers=victim.headers)).status_code == 200
