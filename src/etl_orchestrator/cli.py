"""The ``etl-orchestrator`` command: the service's processes, and a client of its API.

Processes: dev, api, worker, migrate, dsp-sandbox, relay, events tail. Client (``client/``): trigger,
executions, logs, quality, watch, cancel, retry, pipelines, backfill, onboard.

Every server command takes ``--config PATH`` (default ``config/etl.yaml``) and honours the
environment overrides described in ``config.py``. An invalid configuration or a taken port stops
start-up with one line naming the key or the port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from etl_orchestrator.client.commands import add_client_commands
from etl_orchestrator.config import ConfigError, Settings, load_settings
from etl_orchestrator.domain.errors import EtlError
from etl_orchestrator.embedded import PortInUseError, StartupError, ensure_port_free
from etl_orchestrator.observability.logging import configure_logging


def _fail(message: str) -> int:
    print(f"etl-orchestrator: {message}", file=sys.stderr)
    return 2


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until it returns; SIGINT/SIGTERM set ``stop`` so it can shut down in order."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def _cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from etl_orchestrator.db.migrate import upgrade

    upgrade(settings.database.url)
    print("migrations applied")
    return 0


def _cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from etl_orchestrator.worker import run_worker

    run_until_signal(lambda stop: run_worker(settings, stop))
    return 0


def _cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import subprocess

    from etl_orchestrator.api.server import serve_api

    replicas: list[subprocess.Popen] = []
    if not args.replica:  # a replica shares ports its first process checked and holds
        ensure_port_free(settings.api.port, "REST API", settings.api.host)
        ensure_port_free(settings.api.grpc_port, "gRPC API", settings.api.host)
        # The other processes run this same command line; they stop with this one.
        replicas = [subprocess.Popen([sys.executable, "-m", "etl_orchestrator.cli", *sys.argv[1:], "--replica"])
                    for _ in range(settings.api.processes - 1)]
    try:
        run_until_signal(lambda stop: serve_api(settings, stop))
    finally:
        for replica in replicas:
            replica.terminate()
        for replica in replicas:
            try:
                replica.wait(10)
            except subprocess.TimeoutExpired:
                replica.kill()
    return 0


def _cmd_sandbox(settings: Settings, _: argparse.Namespace) -> int:
    from etl_orchestrator.sandbox.server import serve

    ensure_port_free(settings.sandbox.port, "DSP sandbox", settings.sandbox.host)
    serve(settings.sandbox)
    return 0


def _cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from etl_orchestrator.events.service import run_event_services
    from etl_orchestrator.observability.metrics import worker_runtime

    worker_runtime(settings)  # exposes this process's etl_outbox_* metrics
    run_until_signal(lambda stop: run_event_services(settings, stop, webhooks=not args.no_webhooks))
    return 0


def _cmd_events_tail(settings: Settings, args: argparse.Namespace) -> int:
    from etl_orchestrator.events.tail import tail

    run_until_signal(lambda stop: tail(settings, args.type, args.json, args.from_start, stop=stop))
    return 0


def _cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from etl_orchestrator.devstack import run_dev

    return run_dev(settings, config_path=args.config)


PORT_FLAGS = {
    # flag: (settings path, what)
    "api_port": (("api", "port"), "REST API"),
    "grpc_port": (("api", "grpc_port"), "gRPC API"),
    "sandbox_port": (("sandbox", "port"), "DSP sandbox"),
    "postgres_port": (("dev", "postgres_port"), "embedded PostgreSQL"),
    "nats_port": (("dev", "nats_port"), "embedded NATS"),
    "temporal_port": (("dev", "temporal_port"), "Temporal frontend"),
    "temporal_ui_port": (("dev", "temporal_ui_port"), "Temporal UI"),
}


def _apply_port_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    updates: dict[str, dict[str, int]] = {}
    for flag, ((section, key), _) in PORT_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            updates.setdefault(section, {})[key] = value
    if not updates:
        return settings
    return settings.model_copy(update={
        section: getattr(settings, section).model_copy(update=values) for section, values in updates.items()
    })


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-orchestrator", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML configuration file (default: config/etl.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="start the whole stack on this machine (data under ./.data)")
    for flag, (_, what) in PORT_FLAGS.items():
        dev.add_argument("--" + flag.replace("_", "-"), type=int, help=f"port of the {what}")
    dev.set_defaults(handler=_cmd_dev)

    api = commands.add_parser("api", help="serve REST (:8004) and gRPC (:9004)")
    api.add_argument("--api-port", type=int)
    api.add_argument("--grpc-port", type=int)
    api.add_argument("--replica", action="store_true", help=argparse.SUPPRESS)  # one of api.processes
    api.set_defaults(handler=_cmd_api)

    commands.add_parser("worker", help="run a Temporal worker").set_defaults(handler=_cmd_worker)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_cmd_migrate)
    sandbox = commands.add_parser("dsp-sandbox", help="serve the DV360-compatible DSP sandbox")
    sandbox.add_argument("--sandbox-port", type=int)
    sandbox.set_defaults(handler=_cmd_sandbox)

    relay = commands.add_parser("relay", help="publish the event outbox to NATS and deliver webhooks")
    relay.add_argument("--no-webhooks", action="store_true", help="only publish")
    relay.set_defaults(handler=_cmd_relay)
    events = commands.add_parser("events", help="the etl.events stream")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    tail = events_commands.add_parser("tail", help="print events as they are published")
    tail.add_argument("--type", action="append", metavar="TYPE",
                      help="event type, repeatable, wildcards ok (execution.*)")
    tail.add_argument("--json", action="store_true", help="raw CloudEvent JSON, one per line")
    tail.add_argument("--from-start", action="store_true", help="from the oldest event the stream holds")
    tail.set_defaults(handler=_cmd_events_tail)

    add_client_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(json=not sys.stderr.isatty(), level=os.environ.get("ETL_LOG_LEVEL", "info"))
    try:
        settings = _apply_port_flags(load_settings(args.config), args)
        return args.handler(settings, args)
    except ConfigError as exc:
        return _fail(str(exc))
    except (PortInUseError, StartupError, EtlError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
