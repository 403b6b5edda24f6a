"""Fixtures of the event tests: a database and NATS servers of their own.

The relay publishes (and these tests truncate) the *whole* outbox, so they use a database of
their own rather than the session one, where they would steal other tests' events. NATS servers
are per test and can be stopped and restarted on the same port and store, like an outage.
``receiver`` is a real local HTTP server for webhooks, answering with scripted statuses.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from etl_orchestrator.db.migrate import upgrade
from etl_orchestrator.embedded import ManagedProcess, create_database, free_port, start_nats


@pytest.fixture(scope="session")
def events_database_url(database_url: str) -> Iterator[str]:
    """A freshly migrated database beside the session's, used only by tests/events."""
    server, _ = database_url.rsplit("/", 1)
    admin_url, name = f"{server}/postgres", f"etl_events_{uuid.uuid4().hex[:8]}"
    create_database(admin_url, name)
    url = f"{server}/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def outbox_url(events_database_url: str) -> str:
    """The events database with an empty outbox and delivery log."""
    with psycopg.connect(events_database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE event_outbox, webhook_deliveries")
    return events_database_url


@dataclass
class PrivateNats:
    """A ``nats-server -js`` of one test, which the test may stop and start again (same port, same store)."""

    port: int
    directory: Path
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_nats(port=self.port, store_dir=self.directory / "store",
                                  log_path=self.directory / "nats.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(5)
            self.process = None


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(port=free_port(), directory=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Receiver:
    """An HTTP server answering each path with scripted statuses (then 200), recording every request."""

    server: ThreadingHTTPServer
    scripts: dict[str, list[int]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def requests_to(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for request_path, headers, body in self.requests if request_path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, dict(self.headers), body))
            script = state.scripts.get(self.path) or []
            self.send_response(script.pop(0) if script else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(server=server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
