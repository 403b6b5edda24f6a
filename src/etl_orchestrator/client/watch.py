"""``watch``: per-layer progress bars of a run, live from its server-sent event stream, until it ends."""

from __future__ import annotations

import json
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from etl_orchestrator.client import render
from etl_orchestrator.client.api import ApiClient
from etl_orchestrator.client.sse import Event

LAYERS = ("bronze", "silver", "gold")


def watch(client: ApiClient, execution_id: str, *, as_json: bool) -> dict[str, Any] | None:
    """Follow the execution; returns its last state (terminal unless the stream broke off)."""
    path = f"/executions/{execution_id}/stream"
    if as_json:
        last = None
        for item in client.events(path):
            if isinstance(item, Event) and item.event == "execution":
                last = json.loads(item.data)
                print(json.dumps(last, default=str), flush=True)
        return last
    progress = Progress(TextColumn("{task.description:>7}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[state]}"), TimeElapsedColumn(), console=render.console)
    tasks = {layer: progress.add_task(layer, total=None, state="pending") for layer in LAYERS}
    last = None
    with progress:
        for item in client.events(path):
            if not (isinstance(item, Event) and item.event == "execution"):
                continue
            last = json.loads(item.data)
            for layer in LAYERS:
                counts = last["layer_progress"][layer]
                state = last["layers"][layer]["status"]
                if last["current_layer"] == layer and last.get("progress"):
                    state += f" ({_progress_text(last['progress'])})"
                progress.update(tasks[layer], total=counts["total"], completed=counts["done"], state=state)
    if last is not None:
        render.console.print(f"execution {execution_id}: {render.status(last['status'])}"
                             + (f" — {last['error']}" if last.get("error") else ""))
    return last


def _progress_text(live: dict[str, Any]) -> str:
    parts = [f"{name.replace('_', ' ')} {value:,}" for name, value in live.items()
             if isinstance(value, int) and not isinstance(value, bool)]
    return ", ".join(parts[:2])
