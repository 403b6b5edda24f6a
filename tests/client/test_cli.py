"""The CLI client, run as users run it (a subprocess) against the session's API, with ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.support import create_admin_key, create_tenant


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl_orchestrator.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def ok(env: dict[str, str], *args: str):
    result = run(env, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture
async def tenant(stack, dsp_sandbox):
    return await create_tenant(stack.settings.database.url,
                               source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})


@pytest.fixture
def env(stack, tenant, tmp_path) -> dict[str, str]:
    # An empty data dir: no dev-keys.json, so the key and URL come from the environment only.
    return {**stack.env, "ETL_API_URL": stack.api_url, "ETL_API_KEY": tenant.key,
            "ETL_DEV__DATA_DIR": str(tmp_path), "COLUMNS": "200"}


def test_trigger_watch_executions_logs_quality(env, tenant):
    result = run(env, "trigger", tenant.pipeline_id, "--start", "2024-06-10", "--watch", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    execution_id = lines[0]["execution_id"]
    assert lines[0]["status"] == "scheduled"
    assert [line["id"] for line in lines[1:]] == [execution_id] * (len(lines) - 1)
    assert lines[-1]["status"] == "completed"

    listed = ok(env, "executions", "--json", "--status", "completed")
    assert [item["id"] for item in listed["executions"]] == [execution_id]
    assert ok(env, "executions", execution_id, "--json")["layer_progress"]["gold"]["done"] == 1
    assert any(line["layer"] == "bronze" for line in ok(env, "logs", execution_id, "--json")["logs"])
    assert ok(env, "quality", "--window", "7d", "--json")["by_pipeline"][0]["pipeline_id"] == tenant.pipeline_id
    watched = run(env, "watch", execution_id, "--json")
    assert watched.returncode == 0 and json.loads(watched.stdout.splitlines()[-1])["status"] == "completed"

    bars = run(env, "watch", execution_id)  # Rich progress bars, one per layer
    assert bars.returncode == 0 and "completed" in bars.stdout
    assert all(layer in bars.stdout for layer in ("bronze", "silver", "gold"))

    table = run(env, "executions")
    assert table.returncode == 0 and "Executions" in table.stdout and execution_id in table.stdout
    assert table.stderr == ""


def test_pipelines_and_their_schedule(env, dsp_sandbox):
    config = json.dumps({"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    created = ok(env, "pipelines", "create", "--name", f"CLI {uuid.uuid4().hex[:6]}", "--source-config", config,
                 "--cron", "0 6 * * *", "--json")
    assert created["schedule_state"] == "active" and created["source_config"]["token"] == "********"
    assert created["id"] in {item["id"] for item in ok(env, "pipelines", "list", "--json")["pipelines"]}
    paused = ok(env, "pipelines", "schedule", created["id"], "pause", "--json")
    assert paused["state"] == "paused"
    updated = ok(env, "pipelines", "update", created["id"], "--no-schedule", "--restatement-days", "2", "--json")
    assert (updated["schedule_state"], updated["restatement_days"]) == ("none", 2)
    assert ok(env, "pipelines", "delete", created["id"], "--json") == {"deleted": created["id"]}
    missing = run(env, "pipelines", "show", created["id"], "--json")
    assert missing.returncode == 1 and "404" in missing.stderr


def test_backfill_lifecycle(env, tenant):
    created = ok(env, "backfill", "create", tenant.pipeline_id, "--start", "2024-05-01", "--end", "2024-05-02",
                 "--parallelism", "2", "--json")
    assert created["progress"]["total"] == 2
    status = ok(env, "backfill", "status", created["backfill_id"], "--json")
    assert status["backfill_id"] == created["backfill_id"]
    assert [item["backfill_id"] for item in ok(env, "backfill", "list", "--json")["backfills"]] == \
        [created["backfill_id"]]
    invalid = run(env, "backfill", "create", tenant.pipeline_id, "--start", "2024-05-02", "--end", "2024-05-01")
    assert invalid.returncode == 1 and "date_range.end" in invalid.stderr


async def test_onboard_with_the_admin_key_from_the_dev_keys_file(env, stack, dsp_sandbox, tmp_path):
    admin_key = await create_admin_key(stack.settings.database.url)
    (tmp_path / "dev-keys.json").write_text(json.dumps({"api": stack.api_url, "admin_key": admin_key,
                                                        "org_keys": {"1": "etl_unused"}}))
    keys_only = {name: value for name, value in env.items() if name not in ("ETL_API_URL", "ETL_API_KEY")}
    config = json.dumps({"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    onboarding = ok(keys_only, "onboard", "--org-name", "CLI Onboarded", "--slug", f"cli-{uuid.uuid4().hex[:8]}",
                    "--source-config", config, "--backfill-days", "0", "--wait", "--json")
    assert onboarding["status"] == "completed" and onboarding["api_key"].startswith("etl_")
    # Without --admin the file's org key is used (and here it is not a real key).
    refused = run(keys_only, "executions", "--json")
    assert refused.returncode == 1 and "401" in refused.stderr


def test_without_a_key_the_client_says_where_to_get_one(env):
    no_key = {name: value for name, value in env.items() if name != "ETL_API_KEY"}
    result = run(no_key, "executions")
    assert result.returncode == 2 and "ETL_API_KEY" in result.stderr
