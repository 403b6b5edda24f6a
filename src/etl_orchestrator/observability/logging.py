"""Structured logs: one JSON object per line (or readable console lines), for our code and every library.

Ids live in context variables: bind them once with ``bind_execution(...)`` and every line logged
below it — through structlog or through stdlib ``logging`` (Temporal, uvicorn, httpx) — carries
``org_id``, ``pipeline_id``, ``execution_id``, ``layer``. Lines also carry the OpenTelemetry
``trace_id``/``span_id`` when a span is recording, and ``workflow_id``/``activity`` inside a
Temporal activity, so a log line leads to its trace and its workflow.

Context variables do not cross ``loop.run_in_executor`` on their own: code that offloads to a
thread pool should run the function in ``contextvars.copy_context().run`` (``asyncio.to_thread`` does).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TextIO
from uuid import UUID

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, WrappedLogger
from temporalio import activity

HANDLER_NAME = "etl-orchestrator"


def _add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _add_temporal_activity(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("activity", info.activity_type)
        event_dict.setdefault("attempt", info.attempt)
    return event_dict


def configure_logging(json: bool = True, level: str = "info", *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one handler on ``stream`` (stderr): JSON or console lines."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        _add_temporal_activity,
        structlog.processors.StackInfoRenderer(),
    ]
    stream = stream or sys.stderr
    if json:
        rendering = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a later configure_logging (tests, a CLI flag) must reach loggers already in use.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    ))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _plain(value: object) -> object:
    return str(value) if isinstance(value, UUID | date) else value


@contextmanager
def bind_execution(*, org_id: int | None = None, pipeline_id: UUID | str | None = None,
                   execution_id: UUID | str | None = None, layer: str | None = None,
                   partition_date: date | str | None = None) -> Iterator[None]:
    """Within the block, every log line carries the given ids (``None`` ones are left as they were)."""
    values = {"org_id": org_id, "pipeline_id": pipeline_id, "execution_id": execution_id, "layer": layer,
              "partition_date": partition_date}
    with structlog.contextvars.bound_contextvars(**{key: _plain(value) for key, value in values.items()
                                                    if value is not None}):
        yield


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
