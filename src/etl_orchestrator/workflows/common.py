"""Helpers shared by workflow modules: activity options derived from RunOptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.contracts import RunOptions
    from etl_orchestrator.activities.retrying import activity_retry_policy


def short_activity(options: RunOptions) -> dict[str, Any]:
    """Options of quick bookkeeping activities (status writes, report requests)."""
    return {"start_to_close_timeout": options.short_timeout, "retry_policy": activity_retry_policy(options.retry)}


def long_activity(options: RunOptions) -> dict[str, Any]:
    """Options of data-moving activities: long timeout, heartbeats so a dead worker is noticed fast."""
    return {"start_to_close_timeout": options.activity_timeout, "heartbeat_timeout": options.heartbeat_timeout,
            "retry_policy": activity_retry_policy(options.retry)}


def failure_message(error: BaseException) -> str:
    """The innermost cause of a Temporal failure chain: what actually went wrong."""
    message = str(error)
    cause = error.__cause__
    while cause is not None:
        message = str(cause) or message
        cause = cause.__cause__
    return message


def next_poll_delay(current: timedelta, maximum: timedelta) -> timedelta:
    return min(current * 2, maximum)
