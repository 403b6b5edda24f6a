"""The seed's retry table as arithmetic: classes, budgets and waits (the Temporal behaviour is tested live)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from etl_orchestrator.activities.retrying import activity_retry_policy, classify, retries_allowed, retry_delay
from etl_orchestrator.config import RetrySettings
from etl_orchestrator.domain.errors import (
    DataError,
    FailureClass,
    NetworkError,
    RateLimitError,
    SourceAuthError,
    SourceTimeoutError,
)

SEED = RetrySettings()


def test_budgets_follow_the_seed():
    assert retries_allowed(SEED, FailureClass.NETWORK) == 5
    assert retries_allowed(SEED, FailureClass.RATE_LIMIT) == 3
    assert retries_allowed(SEED, FailureClass.DATA) == 0
    assert retries_allowed(SEED, FailureClass.TIMEOUT) == 3


def test_network_backoff_is_1_2_4_8_16_seconds():
    waits = [retry_delay(SEED, FailureClass.NETWORK, n).total_seconds() for n in range(1, 6)]
    assert waits == [1, 2, 4, 8, 16]


def test_backoff_is_capped_by_max_interval():
    settings = RetrySettings(max_interval=timedelta(seconds=5))
    assert retry_delay(settings, FailureClass.TIMEOUT, 10) == timedelta(seconds=5)


def test_rate_limit_waits_for_retry_after_then_reset_then_default():
    assert retry_delay(SEED, FailureClass.RATE_LIMIT, 1, RateLimitError("slow down", retry_after_s=7)) == \
        timedelta(seconds=7)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    reset = RateLimitError("quota", reset_at=now + timedelta(seconds=42))
    assert retry_delay(SEED, FailureClass.RATE_LIMIT, 1, reset, now=now) == timedelta(seconds=42)
    assert retry_delay(SEED, FailureClass.RATE_LIMIT, 2, RateLimitError("quota")) == SEED.rate_limit.default_wait


@pytest.mark.parametrize(("exc", "expected"), [
    (NetworkError("reset"), FailureClass.NETWORK),
    (RateLimitError("429"), FailureClass.RATE_LIMIT),
    (DataError("bad file"), FailureClass.DATA),
    (SourceAuthError("401"), FailureClass.DATA),
    (SourceTimeoutError("504"), FailureClass.TIMEOUT),
    (TimeoutError(), FailureClass.TIMEOUT),
    (httpx.ReadTimeout("slow"), FailureClass.TIMEOUT),
    (httpx.ConnectError("refused"), FailureClass.NETWORK),
    (ConnectionResetError(), FailureClass.NETWORK),
])
def test_every_error_maps_to_one_class(exc, expected):
    assert classify(exc) is expected


def test_broad_policy_leaves_room_for_every_class_and_never_retries_data_errors():
    policy = activity_retry_policy(SEED)
    assert policy.maximum_attempts >= 1 + 5 + 3 + 3
    assert "DataError" in policy.non_retryable_error_types
    assert "SourceAuthError" in policy.non_retryable_error_types
