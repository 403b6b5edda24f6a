"""The seed's retry table, in one place.

| failure   | retries (config)                         | wait before retry n                          |
|-----------|------------------------------------------|----------------------------------------------|
| network   | ``etl.retry.max_attempts`` (5)           | initial × coefficient^(n-1): 1, 2, 4, 8, 16 s |
| rate limit| ``etl.retry.rate_limit.max_retries`` (3) | until the source's reset (or ``default_wait``) |
| data      | ``etl.retry.data.max_retries`` (0)       | none: fail fast                              |
| timeout   | ``etl.retry.timeout.max_retries`` (3)    | exponential, like network                    |

A Temporal ``RetryPolicy`` applies to a whole activity, not to an error class, so every activity
gets one broad policy (``activity_retry_policy``) and the :func:`classified` decorator enforces
the per-class budgets: it classifies the exception once, counts it per class in the heartbeat
details (which survive between attempts), and raises an ``ApplicationError`` that is either
retryable with an explicit ``next_retry_delay`` or ``non_retryable`` once the class's budget is
spent. Server-side timeouts (start-to-close, heartbeat) leave no exception in the activity; they
are counted at the start of the next attempt as ``attempt - 1 - classified failures``.

The same heartbeat details carry an activity's checkpoint (``ActivityState.checkpoint``), so a
retried activity resumes from its last heartbeat. An activity that makes several calls to a source
(create a query, run it; list budgets advertiser by advertiser) records each finished call with
``ActivityState.advance``: the retry resumes after it, and the per-class counts start again, so a
budget counts the failures of one step, not of the whole activity.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import httpx
import psycopg
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from etl_orchestrator.config import RetrySettings
from etl_orchestrator.domain.errors import EtlError, FailureClass, RateLimitError

P = ParamSpec("P")
R = TypeVar("R")

# Error types Temporal must never retry, whatever the attempt budget says.
NON_RETRYABLE_TYPES = ["DataError", "SourceAuthError", "NotFoundError", "ValidationFailed", "ConflictError"]


def activity_retry_policy(settings: RetrySettings) -> RetryPolicy:
    """The broad policy: the decorator stops each class; this only backstops a runaway activity.

    Budgets restart when an activity finishes a step (``ActivityState.advance``), so an activity of
    many steps may legitimately need more attempts than one step's budgets add up to.
    """
    one_step = (1 + settings.max_attempts + settings.rate_limit.max_retries + settings.timeout.max_retries
                + settings.data.max_retries + 1)
    total_attempts = max(100, one_step)
    return RetryPolicy(
        initial_interval=settings.initial_interval,
        backoff_coefficient=settings.backoff_coefficient,
        maximum_interval=settings.max_interval,
        maximum_attempts=total_attempts,
        non_retryable_error_types=NON_RETRYABLE_TYPES,
    )


def classify(exc: BaseException) -> FailureClass:
    """The one mapping from any exception to a row of the retry table."""
    if isinstance(exc, EtlError):
        return exc.failure_class
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return FailureClass.TIMEOUT
    if isinstance(exc, httpx.TransportError | ConnectionError | psycopg.OperationalError | OSError):
        return FailureClass.NETWORK
    # Anything else is a bug or an unknown condition: give it the network budget rather than
    # retrying forever or failing a long run on one glitch.
    return FailureClass.NETWORK


def retries_allowed(settings: RetrySettings, failure: FailureClass) -> int:
    return {
        FailureClass.NETWORK: settings.max_attempts,
        FailureClass.RATE_LIMIT: settings.rate_limit.max_retries,
        FailureClass.DATA: settings.data.max_retries,
        FailureClass.TIMEOUT: settings.timeout.max_retries,
    }[failure]


def _exponential(settings: RetrySettings, retry_number: int) -> timedelta:
    seconds = settings.initial_interval.total_seconds() * settings.backoff_coefficient ** (retry_number - 1)
    return min(timedelta(seconds=seconds), settings.max_interval)


def retry_delay(settings: RetrySettings, failure: FailureClass, retry_number: int,
                exc: BaseException | None = None, now: datetime | None = None) -> timedelta:
    """How long to wait before retry number ``retry_number`` (1-based) of this class."""
    if failure is FailureClass.RATE_LIMIT:
        if isinstance(exc, RateLimitError):
            if exc.retry_after_s is not None:
                return timedelta(seconds=max(exc.retry_after_s, 0.0))
            if exc.reset_at is not None:
                return max(exc.reset_at - (now or datetime.now(UTC)), timedelta(0))
        return settings.rate_limit.default_wait
    if failure is FailureClass.TIMEOUT:
        return _exponential(settings, retry_number)
    if failure is FailureClass.NETWORK:
        return _exponential(settings, retry_number)
    return timedelta(0)


@dataclass
class ActivityState:
    """What one activity carries between attempts in its heartbeat details.

    ``failures`` counts classified failures per class since ``since_attempt``, the attempt in which
    the activity last finished a step (``advance``); budgets apply to those counts.
    """

    failures: dict[str, int] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    since_attempt: int = 1

    def _details(self) -> dict[str, Any]:
        return {"failures": self.failures, "checkpoint": self.checkpoint, "since_attempt": self.since_attempt}

    def heartbeat(self, **checkpoint: Any) -> None:
        """Record progress (merged into the checkpoint) and heartbeat it to the server."""
        self.checkpoint.update(checkpoint)
        _send(self._details())

    def advance(self, **checkpoint: Any) -> None:
        """A step finished: checkpoint it, and give the next step the full retry budgets."""
        self.failures = {}
        self.since_attempt = activity.info().attempt
        self.heartbeat(**checkpoint)

    @classmethod
    def restore(cls) -> ActivityState:
        info = activity.info()
        if info.is_local:
            # A local activity carries nothing between attempts, so no silent attempts can be inferred.
            return cls(since_attempt=info.attempt)
        details = info.heartbeat_details
        if details:
            last = details[-1]
            if isinstance(last, dict):
                return cls(failures=dict(last.get("failures") or {}), checkpoint=dict(last.get("checkpoint") or {}),
                           since_attempt=int(last.get("since_attempt") or 1))
        return cls()


def _send(details: dict[str, Any]) -> None:
    # Local activities (quick bookkeeping run inside the workflow task) have no heartbeats.
    if not activity.info().is_local:
        activity.heartbeat(details)


_current_state: ContextVar[ActivityState | None] = ContextVar("etl_activity_state", default=None)


def current_state() -> ActivityState:
    """The running activity's state (checkpoint and failure counts)."""
    state = _current_state.get()
    if state is None:
        state = ActivityState.restore()
        _current_state.set(state)
    return state


def _give_up(failure: FailureClass, count: int, exc: BaseException | str) -> ApplicationError:
    type_name = exc.__class__.__name__ if isinstance(exc, BaseException) else "TimeoutError"
    return ApplicationError(f"{failure.value} error, giving up after {count} failure(s): {exc}",
                            {"failure_class": failure.value, "failures": count}, type=type_name, non_retryable=True)


def _to_application_error(settings: RetrySettings, state: ActivityState, exc: BaseException) -> ApplicationError:
    if isinstance(exc, ApplicationError):
        return exc
    failure = classify(exc)
    count = state.failures.get(failure.value, 0) + 1
    if activity.info().is_local:
        # No heartbeat details carry counts between a local activity's attempts: count every attempt.
        count = max(count, activity.info().attempt)
    state.failures[failure.value] = count
    # Persist the counts so the next attempt (maybe on another worker) sees them.
    _send(state._details())
    terminal = isinstance(exc, EtlError) and exc.terminal
    if terminal or count > retries_allowed(settings, failure):
        return _give_up(failure, count, exc)
    delay = retry_delay(settings, failure, count, exc)
    return ApplicationError(
        str(exc), {"failure_class": failure.value, "failures": dict(state.failures)},
        type=exc.__class__.__name__, next_retry_delay=max(delay, timedelta(milliseconds=1)),
        category=ApplicationErrorCategory.BENIGN,
    )


def _check_server_side_timeouts(settings: RetrySettings, state: ActivityState) -> None:
    """Attempts that ended without a classified failure ended in a server-side timeout or a crash."""
    attempt = activity.info().attempt
    silent = (attempt - state.since_attempt) - sum(state.failures.values())
    if silent > settings.timeout.max_retries:
        raise _give_up(FailureClass.TIMEOUT, silent, "activity timed out on the server (start-to-close or heartbeat)")


def classified(settings_getter: Callable[[Any], RetrySettings]):
    """Decorate an activity method (async or sync) so its failures follow the retry table.

    ``settings_getter(self)`` returns the ``RetrySettings`` of the activity class instance.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                settings = settings_getter(self)
                state = ActivityState.restore()
                token = _current_state.set(state)
                try:
                    _check_server_side_timeouts(settings, state)
                    return await fn(self, *args, **kwargs)
                except (asyncio.CancelledError, ApplicationError):
                    raise
                except Exception as exc:
                    raise _to_application_error(settings, state, exc) from exc
                finally:
                    _current_state.reset(token)

            return run_async

        @functools.wraps(fn)
        def run_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            settings = settings_getter(self)
            state = ActivityState.restore()
            token = _current_state.set(state)
            try:
                _check_server_side_timeouts(settings, state)
                return fn(self, *args, **kwargs)
            except ApplicationError:
                raise
            except Exception as exc:
                if type(exc).__name__ == "CancelledError":
                    raise
                raise _to_application_error(settings, state, exc) from exc
            finally:
                _current_state.reset(token)

        return run_sync

    return decorate

