"""The client's subcommands of ``etl-orchestrator``, each a few lines over ``ApiClient``.

``add_client_commands`` adds them to the CLI's parser; every one takes ``--api``, ``--key``,
``--admin`` and ``--json`` (see ``endpoint.py`` for how the URL and key are found). Exit status:
0 done, 1 the API refused or a watched run did not complete, 2 no key or bad input here.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl_orchestrator.client import render
from etl_orchestrator.client.api import ApiClient, ApiError
from etl_orchestrator.client.endpoint import ClientConfigError, resolve
from etl_orchestrator.client.watch import watch
from etl_orchestrator.config import Settings

Handler = Callable[[ApiClient, argparse.Namespace], int | None]
POLL_S = 0.5


def _json_arg(text: str) -> Any:
    """JSON given inline, or ``@path`` to a file holding it."""
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _client_command(handler: Handler, *, admin: bool = False) -> Callable[[Settings, argparse.Namespace], int]:
    """A CLI handler that resolves the endpoint, calls ``handler`` and turns API errors into exit codes.

    ``admin``: the command needs the admin key, so ``--admin`` is implied.
    """

    @functools.wraps(handler)
    def run(settings: Settings, args: argparse.Namespace) -> int:
        try:
            endpoint = resolve(api=args.api, key=args.key, admin=args.admin or admin, data_dir=settings.dev.data_dir)
        except ClientConfigError as exc:
            print(f"etl-orchestrator: {exc}", file=sys.stderr)
            return 2
        try:
            with ApiClient(endpoint) as client:
                return handler(client, args) or 0
        except ApiError as exc:
            field = f" (field: {exc.field})" if exc.field else ""
            print(f"etl-orchestrator: {exc}{field}", file=sys.stderr)
            return 1

    return run


def _show(args: argparse.Namespace, answer: Any, table: Callable[..., None], *parts: Any) -> None:
    if args.json:
        render.as_json(answer)
    else:
        table(*(parts or (answer,)))


# ------------------------------------------------------------------------------------------ executions


def _watch_status(client: ApiClient, execution_id: str, args: argparse.Namespace) -> int:
    last = watch(client, execution_id, as_json=args.json)
    return 0 if last is not None and last["status"] == "completed" else 1


@_client_command
def _trigger(client: ApiClient, args: argparse.Namespace) -> int:
    parameters: dict[str, Any] = {"force": args.force}
    if args.start:
        parameters["date_range"] = {"start": args.start, "end": args.end or args.start}
    answer = client.post("/trigger", {"pipeline_id": args.pipeline_id, "parameters": parameters})
    if args.json and args.watch:
        print(json.dumps(answer), flush=True)  # one JSON document per line, like the watch that follows
    elif args.json:
        render.as_json(answer)
    else:
        render.console.print(f"execution {answer['execution_id']}: {render.status(answer['status'])}")
    return _watch_status(client, answer["execution_id"], args) if args.watch else 0


@_client_command
def _executions(client: ApiClient, args: argparse.Namespace) -> None:
    if args.execution_id:
        _show(args, client.get(f"/executions/{args.execution_id}"), render.execution)
        return
    answer = client.get("/executions", pipeline_id=args.pipeline, status=args.status, date_from=args.date_from,
                        date_to=args.date_to, limit=args.limit, cursor=args.cursor)
    _show(args, answer, render.executions, answer["executions"], answer["next_cursor"])


@_client_command
def _logs(client: ApiClient, args: argparse.Namespace) -> None:
    answer = client.get(f"/executions/{args.execution_id}/logs", limit=args.limit)
    _show(args, answer, render.logs, answer["logs"])


@_client_command
def _quality(client: ApiClient, args: argparse.Namespace) -> None:
    _show(args, client.get("/data-quality", window=args.window, pipeline_id=args.pipeline), render.quality)


@_client_command
def _watch(client: ApiClient, args: argparse.Namespace) -> int:
    return _watch_status(client, args.execution_id, args)


@_client_command
def _cancel(client: ApiClient, args: argparse.Namespace) -> None:
    answer = client.post(f"/executions/{args.execution_id}/cancel")
    _show(args, answer, lambda a: render.console.print(f"cancel requested; status now {render.status(a['status'])}"))


@_client_command
def _retry(client: ApiClient, args: argparse.Namespace) -> int:
    answer = client.post(f"/executions/{args.execution_id}/retry")
    _show(args, answer, lambda a: render.console.print(f"retry: execution {a['execution_id']}"))
    return _watch_status(client, answer["execution_id"], args) if args.watch else 0


# ------------------------------------------------------------------------------------------ pipelines


def _pipeline_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {"name": args.name, "source_kind": args.source_kind, "source_config": args.source_config,
              "schedule_cron": args.cron, "schedule_timezone": args.timezone, "quality_rules": args.rules,
              "webhook_url": args.webhook_url, "webhook_secret": args.webhook_secret,
              "restatement_days": args.restatement_days}
    fields = {name: value for name, value in fields.items() if value is not None}
    if getattr(args, "no_schedule", False):
        fields["schedule_cron"] = None
    if args.enabled is not None:
        fields["enabled"] = args.enabled
    return fields


@_client_command
def _pipelines(client: ApiClient, args: argparse.Namespace) -> None:
    action = args.pipelines_command
    if action == "list":
        answer = client.get("/pipelines", limit=args.limit, cursor=args.cursor)
        _show(args, answer, render.pipelines, answer["pipelines"], answer["next_cursor"])
    elif action == "show":
        _show(args, client.get(f"/pipelines/{args.pipeline_id}"), render.pipeline)
    elif action == "create":
        _show(args, client.post("/pipelines", _pipeline_fields(args)), render.pipeline)
    elif action == "update":
        _show(args, client.request("PATCH", f"/pipelines/{args.pipeline_id}", json=_pipeline_fields(args)),
              render.pipeline)
    elif action == "delete":
        client.request("DELETE", f"/pipelines/{args.pipeline_id}")
        _show(args, {"deleted": args.pipeline_id}, lambda a: render.console.print(f"deleted {a['deleted']}"))
    elif action == "schedule":
        base = f"/pipelines/{args.pipeline_id}/schedule"
        answer = client.get(base) if args.action == "show" else client.post(f"{base}/{args.action}")
        _show(args, answer, render.schedule)


# ------------------------------------------------------------------------------------------ backfills


@_client_command
def _backfill(client: ApiClient, args: argparse.Namespace) -> int:
    action = args.backfill_command
    if action == "list":
        answer = client.get("/backfills", pipeline_id=args.pipeline, limit=args.limit, cursor=args.cursor)
        _show(args, answer, render.backfills, answer["backfills"], answer["next_cursor"])
        return 0
    if action == "create":
        answer = client.post("/backfills", {"pipeline_id": args.pipeline_id, "parallelism": args.parallelism,
                                            "force": args.force,
                                            "date_range": {"start": args.start, "end": args.end}})
    elif action == "status":
        answer = client.get(f"/backfills/{args.backfill_id}")
    else:
        answer = client.post(f"/backfills/{args.backfill_id}/{action}")
    _show(args, answer, render.backfill)
    return 0


# ------------------------------------------------------------------------------------------ onboarding


@functools.partial(_client_command, admin=True)
def _onboard(client: ApiClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"org_name": args.org_name, "source_kind": args.source_kind,
                            "source_config": args.source_config, "initial_backfill_days": args.backfill_days}
    if args.slug:
        body["org_slug"] = args.slug
    if args.pipelines is not None:
        body["pipelines"] = args.pipelines
    started = client.post("/onboarding", body)
    if not args.wait:
        _show(args, started, lambda a: render.console.print(f"onboarding {a['onboarding_id']}: {a['status']}"))
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        view = client.get(f"/onboarding/{started['onboarding_id']}")
        if view["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    _show(args, view, render.onboarding)
    return 0 if view["status"] == "completed" else 1


# ------------------------------------------------------------------------------------------ wiring


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("API client")
    group.add_argument("--api", help="API URL (default: $ETL_API_URL, the dev stack's, or http://127.0.0.1:8004)")
    group.add_argument("--key", help="API key (default: $ETL_API_KEY, or the dev stack's first org key)")
    group.add_argument("--admin", action="store_true", help="use the dev stack's admin key")
    group.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")
    return common


def _page(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int)
    parser.add_argument("--cursor")


def _pipeline_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--name", required=create)
    parser.add_argument("--source-kind", default="dv360" if create else None, help="dv360 | ttd | file")
    parser.add_argument("--source-config", type=_json_arg, required=create, metavar="JSON|@FILE")
    parser.add_argument("--cron", help="schedule, e.g. '0 6 * * *'")
    parser.add_argument("--timezone", help="IANA zone of the cron (default UTC)")
    parser.add_argument("--rules", type=_json_arg, metavar="JSON|@FILE", help="quality rules")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--restatement-days", type=int)
    parser.add_argument("--enabled", dest="enabled", action="store_true", default=None)
    parser.add_argument("--disabled", dest="enabled", action="store_false")
    if not create:
        parser.add_argument("--no-schedule", action="store_true", help="remove the schedule")


def add_client_commands(commands: argparse._SubParsersAction) -> None:
    common = _common()

    def command(name: str, handler: Callable[[Settings, argparse.Namespace], int], help_text: str, *,
                options: bool = True):
        # Commands with actions take the client options on the action (argparse would let an action's
        # defaults overwrite options given before it).
        parser = commands.add_parser(name, parents=[common] if options else [], help=help_text)
        parser.set_defaults(handler=handler)
        return parser

    trigger = command("trigger", _trigger, "trigger an execution of a pipeline")
    trigger.add_argument("pipeline_id")
    trigger.add_argument("--start", help="first date (default: yesterday)")
    trigger.add_argument("--end", help="last date (default: --start)")
    trigger.add_argument("--force", action="store_true", help="reprocess completed partitions")
    trigger.add_argument("--watch", action="store_true", help="then follow it until it ends")

    executions = command("executions", _executions, "list executions, or show one")
    executions.add_argument("execution_id", nargs="?")
    executions.add_argument("--pipeline")
    executions.add_argument("--status", choices=("scheduled", "running", "completed", "failed", "cancelled"))
    executions.add_argument("--from", dest="date_from")
    executions.add_argument("--to", dest="date_to")
    _page(executions)

    logs = command("logs", _logs, "an execution's logs")
    logs.add_argument("execution_id")
    logs.add_argument("--limit", type=int)

    quality = command("quality", _quality, "data-quality metrics")
    quality.add_argument("--window", default="24h", help="e.g. 24h, 7d")
    quality.add_argument("--pipeline")

    command("watch", _watch, "follow an execution live until it ends").add_argument("execution_id")
    command("cancel", _cancel, "cancel an execution").add_argument("execution_id")
    retry = command("retry", _retry, "re-run a failed or cancelled execution")
    retry.add_argument("execution_id")
    retry.add_argument("--watch", action="store_true")

    pipelines = command("pipelines", _pipelines, "list, show, create, update, delete pipelines; their schedule",
                        options=False)
    actions = pipelines.add_subparsers(dest="pipelines_command", required=True)
    _page(actions.add_parser("list", parents=[common]))
    actions.add_parser("show", parents=[common]).add_argument("pipeline_id")
    _pipeline_options(actions.add_parser("create", parents=[common]), create=True)
    update = actions.add_parser("update", parents=[common])
    update.add_argument("pipeline_id")
    _pipeline_options(update, create=False)
    actions.add_parser("delete", parents=[common]).add_argument("pipeline_id")
    schedule = actions.add_parser("schedule", parents=[common])
    schedule.add_argument("pipeline_id")
    schedule.add_argument("action", nargs="?", default="show", choices=("show", "pause", "resume", "trigger"))

    backfill = command("backfill", _backfill, "create, list, follow, pause, resume, cancel backfills",
                       options=False)
    actions = backfill.add_subparsers(dest="backfill_command", required=True)
    create = actions.add_parser("create", parents=[common])
    create.add_argument("pipeline_id")
    create.add_argument("--start", required=True)
    create.add_argument("--end", required=True)
    create.add_argument("--parallelism", type=int, default=4)
    create.add_argument("--force", action="store_true")
    listing = actions.add_parser("list", parents=[common])
    listing.add_argument("--pipeline")
    _page(listing)
    for action in ("status", "pause", "resume", "cancel"):
        actions.add_parser(action, parents=[common]).add_argument("backfill_id")

    onboard = command("onboard", _onboard, "onboard an organization (admin key)")
    onboard.add_argument("--org-name", required=True)
    onboard.add_argument("--slug")
    onboard.add_argument("--source-kind", default="dv360")
    onboard.add_argument("--source-config", type=_json_arg, required=True, metavar="JSON|@FILE")
    onboard.add_argument("--pipelines", type=_json_arg, metavar="JSON|@FILE",
                         help='e.g. [{"name": "DV360 Daily", "schedule_cron": "0 6 * * *"}]')
    onboard.add_argument("--backfill-days", type=int, default=30)
    onboard.add_argument("--wait", action="store_true", help="wait for the end and print the new key")
    onboard.add_argument("--timeout", type=float, default=600)
