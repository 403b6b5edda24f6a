"""The API process (``etl-orchestrator api``): REST on ``api.port`` and gRPC on ``api.grpc_port``, one event loop,
one service context (so both share the database pool, the Temporal client and the execution feed)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from sse_starlette.sse import AppStatus

from etl_orchestrator.api.grpc.server import start_grpc_server
from etl_orchestrator.api.grpc.servicer import registrar
from etl_orchestrator.api.rest.app import create_app
from etl_orchestrator.config import Settings
from etl_orchestrator.db.engine import make_async_engine
from etl_orchestrator.observability.tracing import client_plugins, configure_tracing
from etl_orchestrator.service.context import ServiceContext
from etl_orchestrator.temporal_client import connect_temporal


class EmbeddedUvicorn(uvicorn.Server):
    """Uvicorn without its own signal handling: the process that embeds it decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def listening_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """The REST port's socket; ``shared``: several API processes bind it and the kernel spreads connections."""
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose protocol
    # says TCP, and without it every small answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve_api(settings: Settings, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
    engine = make_async_engine(settings.database.url, pool_size=settings.database.pool_size)
    configure_tracing("etl-orchestrator-api")
    temporal = await connect_temporal(settings, plugins=client_plugins())
    ctx = ServiceContext(settings=settings, engine=engine, temporal=temporal)
    ctx.workflow_starter()  # from now on: starts left pending by any process that died after a trigger
    app = create_app(settings, ctx)
    server = EmbeddedUvicorn(uvicorn.Config(app, host=settings.api.host, port=settings.api.port,
                                            log_level="warning", access_log=False, lifespan="on",
                                            log_config=None))
    # gRPC binds with SO_REUSEPORT by default on Linux; REST does when several processes share the port.
    grpc_server, _ = await start_grpc_server(settings.api.host, settings.api.grpc_port, registrars=[registrar(ctx)])
    rest_socket = listening_socket(settings.api.host, settings.api.port, shared=settings.api.processes > 1)
    rest_task = asyncio.create_task(server.serve(sockets=[rest_socket]))
    try:
        while not server.started and not rest_task.done():
            await asyncio.sleep(0.02)
        if rest_task.done():
            rest_task.result()
        if ready is not None:
            ready.set()
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({rest_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
    finally:
        server.should_exit = True
        # sse-starlette notices shutdown through uvicorn's signal handler, which this embedded server
        # does not install: tell it directly, so open event streams end instead of holding shutdown.
        AppStatus.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(rest_task, 8)
        await grpc_server.stop(grace=3)
        await ctx.aclose()
        await engine.dispose()
