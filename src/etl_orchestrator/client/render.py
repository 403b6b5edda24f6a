"""Rich tables of the API's answers (``--json`` prints the answers themselves instead)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
STATUS_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan",
                "scheduled": "blue", "paused": "yellow", "active": "green", "cancelling": "yellow"}


def status(value: str | None) -> str:
    style = STATUS_STYLE.get(value or "", "")
    return f"[{style}]{value}[/]" if style else str(value)


def as_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def key_values(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    for name, value in rows.items():
        table.add_row(name, value if isinstance(value, str) else json.dumps(value, default=str))
    console.print(table)


def executions(rows: list[dict[str, Any]], next_cursor: str | None) -> None:
    table = Table(title="Executions")
    for column in ("id", "pipeline", "status", "bronze", "silver (filtered)", "gold", "ms", "started"):
        table.add_column(column)
    for row in rows:
        layers = row["layers"]
        table.add_row(row["id"], row["pipeline_name"], status(row["status"]),
                      f"{layers['bronze']['records']:,}",
                      f"{layers['silver']['records']:,} ({layers['silver']['records_filtered']:,})",
                      status(layers["gold"]["status"]), str(row["total_duration_ms"] or ""), row["started_at"] or "")
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


def execution(detail: dict[str, Any]) -> None:
    key_values(f"Execution {detail['id']}", {
        "pipeline": f"{detail['pipeline_name']} ({detail['pipeline_id']})", "status": status(detail["status"]),
        "dates": f"{detail['date_range']['start']} .. {detail['date_range']['end']}",
        "trigger / mode": f"{detail['trigger']} / {detail['mode']}", "force": str(detail["force"]),
        **{layer: f"{progress['done']}/{progress['total']} partitions"
           + (f", {progress['failed']} failed" if progress["failed"] else "")
           for layer, progress in detail["layer_progress"].items()},
        "records (failed)": f"{detail['records_processed'] or 0:,} ({detail['records_failed'] or 0:,})",
        "duration ms": str(detail["total_duration_ms"]), "error": detail["error"] or "",
    })


def logs(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Logs")
    for column in ("timestamp", "level", "layer", "message"):
        table.add_column(column)
    for row in rows:
        style = {"error": "red", "warning": "yellow"}.get(row["level"], "")
        table.add_row(row["timestamp"], f"[{style}]{row['level']}[/]" if style else row["level"], row["layer"] or "",
                      row["message"])
    console.print(table)


def quality(report: dict[str, Any]) -> None:
    for window, metrics in report["quality_metrics"].items():
        key_values(f"Data quality, {window}", {
            "records": f"{metrics['total_records']:,}", "valid": f"{metrics['valid_records']:,}",
            "score": str(metrics["quality_score"]), **{name: f"{count:,}" for name, count in metrics["issues"].items()}})
    table = Table(title="By pipeline")
    for column in ("pipeline", "score", "issues"):
        table.add_column(column)
    for row in report["by_pipeline"]:
        table.add_row(f"{row['pipeline_name']} ({row['pipeline_id']})", str(row["quality_score"]), f"{row['issues']:,}")
    console.print(table)


def pipelines(rows: list[dict[str, Any]], next_cursor: str | None) -> None:
    table = Table(title="Pipelines")
    for column in ("id", "name", "source", "schedule", "state", "enabled"):
        table.add_column(column)
    for row in rows:
        schedule = f"{row['schedule_cron']} {row['schedule_timezone']}" if row["schedule_cron"] else ""
        table.add_row(row["id"], row["name"], row["source_kind"], schedule, status(row["schedule_state"]),
                      str(row["enabled"]))
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


def pipeline(row: dict[str, Any]) -> None:
    key_values(f"Pipeline {row['id']}", {name: value for name, value in row.items() if name != "id"})


def schedule(view: dict[str, Any]) -> None:
    key_values(f"Schedule of {view['pipeline_id']}", {
        "state": status(view["state"]), "cron": f"{view['cron']} ({view['timezone']})" if view["cron"] else "",
        "note": view["note"] or "", "next runs": ", ".join(view["next_runs"]) or "",
        "skipped runs": str(view["skipped_runs"]), "last fired": view["last_scheduled_at"] or ""})


def backfills(rows: list[dict[str, Any]], next_cursor: str | None) -> None:
    table = Table(title="Backfills")
    for column in ("id", "pipeline", "dates", "status", "done/total", "failed"):
        table.add_column(column)
    for row in rows:
        progress = row["progress"]
        table.add_row(row["backfill_id"], row["pipeline_id"],
                      f"{row['date_range']['start']} .. {row['date_range']['end']}", status(row["status"]),
                      f"{progress['done']}/{progress['total']}", str(progress["failed"]))
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


def backfill(row: dict[str, Any]) -> None:
    progress = row["progress"]
    key_values(f"Backfill {row['backfill_id']}", {
        "pipeline": row["pipeline_id"], "status": status(row["status"]),
        "dates": f"{row['date_range']['start']} .. {row['date_range']['end']}",
        "progress": f"{progress['done']} done, {progress['failed']} failed, {progress['running']} running, "
                    f"{progress['skipped']} skipped of {progress['total']}",
        "eta": f"{progress['eta_s']} s" if progress.get("eta_s") is not None else "", "error": row["error"] or ""})


def onboarding(view: dict[str, Any]) -> None:
    table = Table(title=f"Onboarding {view['onboarding_id']}: {view['status']}")
    for column in ("step", "status", "detail"):
        table.add_column(column)
    for step in view["steps"]:
        table.add_row(step["name"], status(step["status"]), step["detail"] or "")
    console.print(table)
    if view.get("api_key"):
        console.print(f"API key of organization {view['org_id']} (shown once): [bold]{view['api_key']}[/]")
    if view.get("error"):
        console.print(f"[red]{view['error']}[/]")
