"""The sandbox as a process: the CLI entry point starts it, SIGTERM stops it promptly."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.conftest import free_port, wait_http


def slow_request(url: str) -> None:
    """A request the sandbox holds for 30 s; the server's shutdown cuts it."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(
            url + "/v4/partners",
            headers={"Authorization": "Bearer t", "X-Sandbox-Fault": "delay=30"},
            timeout=40,
        )


def test_sigterm_stops_the_sandbox_promptly_even_during_a_slow_request() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "etl_orchestrator.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--token",
            "t",
            "--rows-per-day",
            "50",
            "--report-delay-s",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        client = threading.Thread(target=slow_request, args=(url,))
        client.start()
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        assert time.monotonic() - started < 4
        client.join(timeout=5)
        assert not client.is_alive()
    finally:
        if process.poll() is None:
            process.kill()
