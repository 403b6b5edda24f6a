"""Source clients on one event loop share its connection pool, never each other's credentials."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etl_orchestrator.connectors.http import HttpSource


@pytest.fixture
def keepalive_server() -> Iterator[tuple[str, list[tuple[int, str | None]]]]:
    """An HTTP/1.1 server keeping connections open; records (client port, Authorization) per request."""
    seen: list[tuple[int, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.client_address[1], self.headers.get("Authorization")))
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def test_a_closed_source_leaves_its_connection_to_the_next_source(keepalive_server) -> None:
    url, seen = keepalive_server
    first = HttpSource(source="test", base_url=url, headers={"Authorization": "Bearer one"}, timeout_s=5)
    assert await first.call("GET", "/a", operation="a") == {"ok": True}
    await first.aclose()
    second = HttpSource(source="test", base_url=url, headers={"Authorization": "Bearer two"}, timeout_s=5)
    try:
        assert await second.call("GET", "/b", operation="b") == {"ok": True}
    finally:
        await second.aclose()

    (first_port, first_auth), (second_port, second_auth) = seen
    assert first_port == second_port, "the second source reused the pooled connection"
    assert (first_auth, second_auth) == ("Bearer one", "Bearer two")
