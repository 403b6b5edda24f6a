"""``etl-orchestrator events tail``: follow the events stream and print each event as it arrives.

It reads through an ephemeral ordered JetStream consumer (no state left on the server), from now
on or, with ``from_start``, from the oldest event the stream still holds. Each event is one line:
Rich-formatted for people, or the CloudEvent JSON exactly as published (``as_json``) for tools.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import sys
from typing import Any, TextIO

import nats.errors
from nats.js.api import DeliverPolicy
from rich.console import Console
from rich.markup import escape

from etl_orchestrator.config import Settings
from etl_orchestrator.events.broker import JetStreamBroker, StreamSpec, translate_nats_errors

ID_FIELDS = ("execution_id", "pipeline_id", "org_id")
TYPE_STYLES = {"execution.failed": "bold red", "execution.completed": "bold green",
               "execution.started": "bold blue", "quality.issue_detected": "yellow", "layer.completed": "cyan"}


def matches(event_type: str, patterns: list[str] | None) -> bool:
    """Whether ``event_type`` is wanted; patterns may use shell wildcards (``execution.*``)."""
    return not patterns or any(fnmatch.fnmatchcase(event_type, pattern) for pattern in patterns)


def _details(data: dict[str, Any]) -> list[str]:
    """``key=value`` of the data's scalars, and of the scalars one level down (``issue.count=3``)."""
    parts = []
    for key, value in data.items():
        if key in ID_FIELDS or value is None:
            continue
        if isinstance(value, dict):
            parts += [f"{key}.{sub}={sub_value}" for sub, sub_value in value.items()
                      if sub_value is not None and not isinstance(sub_value, dict | list)]
        elif not isinstance(value, list):
            parts.append(f"{key}={value}")
    return parts


def one_line(event: dict[str, Any]) -> str:
    """The Rich markup of one event: time, type, short ids, then what the event says."""
    data = event.get("data") or {}
    event_type = str(event.get("type", "?"))
    clock = str(event.get("time", ""))[11:23] or "--:--:--"
    style = TYPE_STYLES.get(event_type, "white")
    ids = [f"{label} {str(data[key])[:8]}" for key, label in
           (("execution_id", "exec"), ("pipeline_id", "pipe"), ("org_id", "org")) if data.get(key) is not None]
    return (f"[dim]{clock}[/] [{style}]{event_type:<23}[/] [dim]{escape('  '.join(ids))}[/]  "
            f"{escape(' '.join(_details(data)))}")


async def tail(settings: Settings, types: list[str] | None, as_json: bool, from_start: bool, *,
               stop: asyncio.Event | None = None, out: TextIO | None = None, limit: int | None = None) -> int:
    """Print events until ``stop`` is set (or ``limit`` were printed); return how many were printed.

    Raise ``BrokerUnavailable`` when NATS cannot be reached at start; later outages are waited out.
    """
    stop = stop or asyncio.Event()
    out = out or sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=True)
    stream = StreamSpec.from_settings(settings.nats)
    printed = 0
    async with JetStreamBroker(settings.nats.url, stream, client_name="etl-events-tail") as broker:
        with translate_nats_errors("subscribe", stream=stream.name):
            subscription = await broker.jetstream.subscribe(
                stream.all_subjects, stream=stream.name, ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW)
        while not stop.is_set() and (limit is None or printed < limit):
            with translate_nats_errors("receive", stream=stream.name):
                try:
                    message = await subscription.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    continue  # nothing new; look at ``stop`` again
            event = json.loads(message.data)
            if not matches(str(event.get("type", "")), types):
                continue
            if as_json:
                out.write(message.data.decode() + "\n")
                out.flush()
            else:
                console.print(one_line(event))
            printed += 1
    return printed
