"""The one mapping from httpx exceptions and HTTP statuses to the error taxonomy misses nothing."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from etl_orchestrator.connectors.http import (
    HTTPX_ERRORS,
    error_detail,
    error_for_exception,
    error_for_status,
    parse_retry_after,
    translated,
)
from etl_orchestrator.domain.errors import (
    DataError,
    EtlError,
    NetworkError,
    RateLimitError,
    SourceAuthError,
    SourceTimeoutError,
)

EXPECTED_FOR_EXCEPTION: dict[str, type[EtlError]] = {
    # timeouts
    "TimeoutException": SourceTimeoutError,
    "ConnectTimeout": SourceTimeoutError,
    "ReadTimeout": SourceTimeoutError,
    "WriteTimeout": SourceTimeoutError,
    "PoolTimeout": SourceTimeoutError,
    # the wire: transient
    "HTTPError": NetworkError,
    "RequestError": NetworkError,
    "TransportError": NetworkError,
    "NetworkError": NetworkError,
    "ConnectError": NetworkError,
    "ReadError": NetworkError,
    "WriteError": NetworkError,
    "CloseError": NetworkError,
    "ProtocolError": NetworkError,
    "RemoteProtocolError": NetworkError,
    "ProxyError": NetworkError,
    "DecodingError": NetworkError,
    # our request or our code: retrying cannot help
    "LocalProtocolError": DataError,
    "UnsupportedProtocol": DataError,
    "InvalidURL": DataError,
    "TooManyRedirects": DataError,
    "CookieConflict": DataError,
    "StreamError": DataError,
    "StreamConsumed": DataError,
    "StreamClosed": DataError,
    "ResponseNotRead": DataError,
    "RequestNotRead": DataError,
}


def httpx_exception_classes() -> dict[str, type[Exception]]:
    return {
        name: value
        for name, value in vars(httpx).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__.startswith("httpx")
    }


def instance_of(exception_class: type[Exception]) -> Exception:
    """An instance, whatever the constructor wants (a message and request, a message, or nothing)."""
    request = httpx.Request("GET", "https://example.test/")
    for arguments in ((("boom",), {"request": request}), (("boom",), {}), ((), {})):
        try:
            return exception_class(*arguments[0], **arguments[1])
        except TypeError:
            continue
    raise AssertionError(f"cannot build {exception_class}")


def test_every_httpx_exception_has_an_expected_mapping() -> None:
    mapped = set(EXPECTED_FOR_EXCEPTION) | {"HTTPStatusError"}
    assert set(httpx_exception_classes()) == mapped, "httpx grew or lost an exception: decide its class here"
    assert all(issubclass(cls, HTTPX_ERRORS) for cls in httpx_exception_classes().values())


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FOR_EXCEPTION.items()))
def test_httpx_exception_maps_to_its_error_class(name: str, expected: type[EtlError]) -> None:
    error = error_for_exception(
        instance_of(httpx_exception_classes()[name]), source="dv360", operation="get_report"
    )
    assert type(error) is expected
    assert error.context == {"source": "dv360", "operation": "get_report"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, DataError),
        (404, DataError),
        (409, DataError),
        (410, DataError),
        (416, DataError),
        (422, DataError),
        (401, SourceAuthError),
        (403, SourceAuthError),
        (407, SourceAuthError),
        (408, SourceTimeoutError),
        (504, SourceTimeoutError),
        (425, RateLimitError),
        (429, RateLimitError),
        (500, NetworkError),
        (502, NetworkError),
        (503, NetworkError),
        (599, NetworkError),
    ],
)
def test_status_maps_to_its_error_class(status: int, expected: type[EtlError]) -> None:
    error = error_for_status(status, source="ttd", operation="download", detail="nope")
    assert type(error) is expected and error.context["status"] == status and "nope" in str(error)


def test_every_error_status_maps_to_a_taxonomy_error_of_the_right_transience() -> None:
    for status in range(400, 600):
        error = error_for_status(status, source="dv360", operation="run_query")
        assert isinstance(error, EtlError)
        assert error.terminal == (status < 500 and status not in (408, 425, 429)), status


def test_status_error_from_httpx_keeps_retry_after() -> None:
    request = httpx.Request("GET", "https://example.test/")
    response = httpx.Response(429, headers={"Retry-After": "12"}, request=request)
    error = error_for_exception(
        httpx.HTTPStatusError("slow down", request=request, response=response),
        source="dv360",
        operation="run_query",
    )
    assert isinstance(error, RateLimitError) and error.retry_after_s == 12.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 17, 10, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_error_detail_reads_google_and_ttd_bodies() -> None:
    assert (
        error_detail('{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}')
        == "Quota"
    )
    assert error_detail('{"Message": "Bad advertiser", "ErrorDetails": []}') == "Bad advertiser"
    assert error_detail("<html>upstream</html>") == "<html>upstream</html>"


def test_translated_reraises_from_the_httpx_exception() -> None:
    cause = httpx.ConnectError("refused")
    with pytest.raises(NetworkError) as caught, translated(source="dv360", operation="create_query"):
        raise cause
    assert caught.value.__cause__ is cause and "create_query" in str(caught.value)
