"""``etl-orchestrator dev``: the whole service on one machine, data under ``./.data``.

Starts, in order: embedded PostgreSQL, the Temporal dev server (namespace ``platform-etl``, UI on
:8233, the latency flags of TEMPORAL-NOTES §11), NATS JetStream, migrations, the DSP sandbox, one
worker and the API (REST :8004, gRPC :9004). On first start it creates "Demo Org", the "DV360
Daily" pipeline and two API keys, saved in ``.data/dev-keys.json``; every start triggers
yesterday's execution. Ctrl-C or SIGTERM stops every child within 10 s; each child also dies
with this process (parent-death signal), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from etl_orchestrator.config import Settings
from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.embedded import (
    ManagedProcess,
    ensure_port_free,
    start_nats,
    start_postgres,
    start_temporal,
    stop_all,
    wait_until,
)

DEMO_ORG = "Demo Org"
DEMO_PIPELINE = "DV360 Daily"
DEMO_CRON = "0 6 * * *"
console = Console()


def child_environment(settings: Settings, config_path: str | None) -> dict[str, str]:
    """What a child process needs to see the same stack as this one."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ETL_")}
    env.update({
        "DATABASE_URL": settings.database.url,
        "TEMPORAL_ADDRESS": settings.etl.temporal.address,
        "NATS_URL": settings.nats.url,
        "LAKE_URI": settings.lake.uri,
        "ETL_API__PORT": str(settings.api.port),
        "ETL_API__GRPC_PORT": str(settings.api.grpc_port),
        "ETL_API__HOST": settings.api.host,
        "ETL_SANDBOX__PORT": str(settings.sandbox.port),
        "ETL_SANDBOX__HOST": settings.sandbox.host,
        "PYTHONUNBUFFERED": "1",
    })
    if config_path:
        env["ETL_CONFIG"] = str(Path(config_path).resolve())
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "etl_orchestrator.cli", *args]


async def _seed_demo(settings: Settings, sandbox_url: str) -> dict[str, Any]:
    """Create the demo organization, pipeline and keys once; later starts reuse them."""
    from etl_orchestrator.db.engine import make_async_engine
    from etl_orchestrator.service.auth import create_api_key
    from etl_orchestrator.service.organizations import create_organization, create_pipeline, find_organization

    engine = make_async_engine(settings.database.url, pool_size=2)
    try:
        async with engine.begin() as conn:
            if await find_organization(conn, slug="demo-org") is not None:
                return {}
            org_id = await create_organization(conn, name=DEMO_ORG, slug="demo-org")
            pipeline_id = await create_pipeline(
                conn, org_id=org_id, name=DEMO_PIPELINE, source_kind="dv360",
                source_config={"base_url": sandbox_url, "token": settings.sandbox.token},
                schedule_cron=DEMO_CRON, schedule_timezone="UTC")
            _, admin_key = await create_api_key(conn, org_id=None, name="dev admin", is_admin=True)
            _, org_key = await create_api_key(conn, org_id=org_id, name="demo org key")
        return {"org_id": org_id, "pipeline_id": str(pipeline_id), "admin_key": admin_key, "org_key": org_key}
    finally:
        await engine.dispose()


def _write_keys(path: Path, api_url: str, seeded: dict[str, Any]) -> dict[str, Any]:
    if seeded:
        keys = {"api": api_url, "admin_key": seeded["admin_key"], "org_keys": {str(seeded["org_id"]): seeded["org_key"]},
                "demo_pipeline_id": seeded["pipeline_id"]}
        path.write_text(json.dumps(keys, indent=2) + "\n")
        path.chmod(0o600)
        return keys
    keys = json.loads(path.read_text())
    keys["api"] = api_url
    path.write_text(json.dumps(keys, indent=2) + "\n")
    return keys


def _trigger_yesterday(api_url: str, keys: dict[str, Any]) -> str | None:
    org_key = next(iter(keys["org_keys"].values()))
    response = httpx.post(f"{api_url}/api/v1/etl/trigger", headers={"Authorization": f"Bearer {org_key}"},
                          json={"pipeline_id": keys["demo_pipeline_id"]}, timeout=30)
    response.raise_for_status()
    return response.json()["execution_id"]


def _print_banner(settings: Settings, keys: dict[str, Any], execution_id: str | None, started: float) -> None:
    table = Table(title=f"ETL Orchestrator dev stack — up in {time.monotonic() - started:.1f}s", show_header=False)
    table.add_row("REST API", f"{keys['api']}/api/v1/etl   (docs: {keys['api']}/docs)")
    table.add_row("gRPC", f"{settings.api.host}:{settings.api.grpc_port}")
    table.add_row("Temporal UI", f"http://127.0.0.1:{settings.dev.temporal_ui_port}  (namespace "
                                 f"{settings.etl.temporal.namespace})")
    table.add_row("DSP sandbox", f"http://{settings.sandbox.host}:{settings.sandbox.port}")
    table.add_row("PostgreSQL", settings.database.url)
    table.add_row("NATS", settings.nats.url)
    table.add_row("admin key", keys["admin_key"])
    for org_id, key in keys["org_keys"].items():
        table.add_row(f"org {org_id} key", key)
    table.add_row("keys file", str(Path(settings.dev.data_dir) / "dev-keys.json"))
    if execution_id:
        table.add_row("demo execution", f"{execution_id} (yesterday) — "
                                        f"{keys['api']}/api/v1/etl/executions/{execution_id}")
    console.print(table)
    console.print("Press Ctrl-C to stop.")


def _check_ports(settings: Settings) -> None:
    dev = settings.dev
    for port, what in ((settings.api.port, "REST API"), (settings.api.grpc_port, "gRPC API"),
                       (settings.sandbox.port, "DSP sandbox"), (dev.postgres_port, "embedded PostgreSQL"),
                       (dev.nats_port, "embedded NATS"), (dev.temporal_port, "Temporal frontend"),
                       (dev.temporal_ui_port, "Temporal UI"), (dev.temporal_http_port, "Temporal HTTP API"),
                       (dev.temporal_metrics_port, "Temporal metrics")):
        ensure_port_free(port, what)


def run_dev(settings: Settings, *, config_path: str | None = None) -> int:
    started = time.monotonic()
    data_dir = Path(settings.dev.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _check_ports(settings)
    stop = threading.Event()
    previous_handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[ManagedProcess] = []
    logs = data_dir / "logs"
    try:
        postgres, database_url = start_postgres(data_dir / "postgres", port=settings.dev.postgres_port,
                                                log_path=logs / "postgres.log")
        processes.append(postgres)
        dev = settings.dev
        processes.append(start_temporal(port=dev.temporal_port, ui_port=dev.temporal_ui_port,
                                        http_port=dev.temporal_http_port, metrics_port=dev.temporal_metrics_port,
                                        namespace=settings.etl.temporal.namespace,
                                        db_file=data_dir / "temporal" / "temporal.db", log_path=logs / "temporal.log"))
        processes.append(start_nats(port=dev.nats_port, store_dir=data_dir / "nats", log_path=logs / "nats.log"))
        lake_uri = settings.lake.uri if settings.lake.uri != "./.data/lake" else str(data_dir / "lake")
        settings = settings.model_copy(update={
            "database": settings.database.model_copy(update={"url": database_url}),
            "etl": settings.etl.model_copy(update={"temporal": settings.etl.temporal.model_copy(
                update={"address": f"127.0.0.1:{dev.temporal_port}"})}),
            "nats": settings.nats.model_copy(update={"url": f"nats://127.0.0.1:{dev.nats_port}"}),
            "lake": settings.lake.model_copy(update={"uri": lake_uri}),
        })
        env = child_environment(settings, config_path)
        sandbox_url = f"http://{settings.sandbox.host}:{settings.sandbox.port}"
        # Children import for a few seconds; migrate meanwhile (nothing they do at start-up needs the schema).
        for name, args in (("sandbox", ("dsp-sandbox",)), ("worker", ("worker",)), ("api", ("api",))):
            processes.append(ManagedProcess(name, _cli(*args), log_path=logs / f"{name}.log", env=env).start())
        upgrade(settings.database.url)
        api_url = f"http://{settings.api.host}:{settings.api.port}"
        wait_until(lambda: httpx.get(sandbox_url + "/healthz", timeout=1).status_code == 200, timeout_s=30,
                   what="DSP sandbox", process=processes[-3])
        wait_until(lambda: httpx.get(api_url + "/readyz", timeout=1).status_code == 200, timeout_s=30,
                   what="API", process=processes[-1])
        seeded = asyncio.run(_seed_demo(settings, sandbox_url))
        keys = _write_keys(data_dir / "dev-keys.json", api_url, seeded)
        execution_id = _trigger_yesterday(api_url, keys)
        _print_banner(settings, keys, execution_id, started)
        while not stop.is_set():
            for process in processes:
                if process.exited:
                    console.print(f"[red]{process.name} exited (code {process.returncode}); see {process.log_path}")
                    stop.set()
            stop.wait(0.5)
        return 0
    finally:
        console.print("stopping…")
        stop_all(processes, timeout_s=8)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
