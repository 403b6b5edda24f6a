"""Structured logs: JSON lines carrying the execution's ids, from our loggers and from libraries alike."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import structlog

from etl_orchestrator.observability.logging import HANDLER_NAME, bind_execution, configure_logging, get_logger


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    try:
        yield stream
    finally:
        for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
            root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_inside_bind_execution_carry_its_ids_and_lines_outside_do_not(log_lines):
    pipeline_id, execution_id = uuid.uuid4(), uuid.uuid4()
    with bind_execution(org_id=7, pipeline_id=pipeline_id, execution_id=execution_id, layer="silver"):
        get_logger("etl.test").info("validated", records=1990)
        logging.getLogger("some.library").warning("from a library %s", "call")
    get_logger("etl.test").info("after")

    inside_ours, inside_library, after = parsed(log_lines)
    ids = {"org_id": 7, "pipeline_id": str(pipeline_id), "execution_id": str(execution_id), "layer": "silver"}
    assert inside_ours.items() >= {**ids, "event": "validated", "records": 1990, "level": "info"}.items()
    assert inside_library.items() >= {**ids, "event": "from a library call", "level": "warning",
                                      "logger": "some.library"}.items()
    assert "timestamp" in inside_ours
    assert not set(ids) & set(after)


def test_nested_binding_adds_the_layer_and_restores_it(log_lines):
    with bind_execution(execution_id="e-1"):
        with bind_execution(layer="gold"):
            get_logger().info("inner")
        get_logger().info("outer")
    inner, outer = parsed(log_lines)
    assert inner["execution_id"] == outer["execution_id"] == "e-1"
    assert inner["layer"] == "gold" and "layer" not in outer


def test_levels_below_the_configured_one_are_dropped(log_lines):
    get_logger().debug("noise")
    logging.getLogger("lib").debug("noise")
    get_logger().error("signal")
    assert [line["event"] for line in parsed(log_lines)] == ["signal"]
