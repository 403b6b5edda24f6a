"""The one mapping from httpx and aiohttp exceptions and HTTP statuses to the error taxonomy misses nothing."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import aiohttp
import httpx
import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from etl_orchestrator.connectors.http import (
    CLIENT_ERRORS,
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


# aiohttp (report downloads): every ClientError subclass it exports.
EXPECTED_FOR_AIOHTTP_EXCEPTION: dict[str, type[EtlError]] = {
    # timeouts (connect, read)
    "ServerTimeoutError": SourceTimeoutError,
    "ConnectionTimeoutError": SourceTimeoutError,
    "SocketTimeoutError": SourceTimeoutError,
    # the wire: transient
    "ClientError": NetworkError,
    "ClientConnectionError": NetworkError,
    "ClientConnectionResetError": NetworkError,
    "ClientOSError": NetworkError,
    "ClientConnectorError": NetworkError,
    "ClientConnectorDNSError": NetworkError,
    "ClientProxyConnectionError": NetworkError,
    "ClientSSLError": NetworkError,
    "ClientConnectorSSLError": NetworkError,
    "ClientConnectorCertificateError": NetworkError,
    "ServerConnectionError": NetworkError,
    "ServerDisconnectedError": NetworkError,
    "ServerFingerprintMismatch": NetworkError,
    "ClientPayloadError": NetworkError,  # the body was cut
    "UploadAbortedError": NetworkError,
    # our request or the response's shape: retrying cannot help
    "InvalidURL": DataError,
    "InvalidUrlClientError": DataError,
    "RedirectClientError": DataError,
    "NonHttpUrlClientError": DataError,
    "InvalidUrlRedirectClientError": DataError,
    "NonHttpUrlRedirectClientError": DataError,
    "TooManyRedirects": DataError,
    "ContentTypeError": DataError,
    # a response error carries its status: mapped like the status (here the 502 instance_of gives)
    "ClientResponseError": NetworkError,
    "ClientHttpProxyError": NetworkError,
    "WSServerHandshakeError": NetworkError,
}


def aiohttp_exception_classes() -> dict[str, type[Exception]]:
    return {name: value for name, value in vars(aiohttp).items()
            if inspect.isclass(value) and issubclass(value, aiohttp.ClientError)}


def aiohttp_instance_of(exception_class: type[Exception]) -> Exception:
    """An instance that formats, whatever the constructor wants; a response error answers 502."""
    url = yarl.URL("https://example.test/report.csv")
    request = aiohttp.RequestInfo(url=url, method="GET", headers=CIMultiDictProxy(CIMultiDict()), real_url=url)
    connection = SimpleNamespace(host="example.test", port=443, ssl=True, is_ssl=True)
    attempts: list[tuple[tuple, dict]] = [
        ((request, ()), {"status": 502, "message": "bad gateway"}),  # response errors
        ((connection, OSError(111, "refused")), {}),  # connector errors
        ((b"expected", b"got", "example.test", 443), {}),  # fingerprint mismatch
        ((str(url),), {}),
        (("boom",), {}),
        ((), {}),
    ]
    for args, kwargs in attempts:
        try:
            instance = exception_class(*args, **kwargs)
            str(instance)
            return instance
        except (TypeError, AttributeError):
            continue
    raise AssertionError(f"cannot build {exception_class}")


def test_every_aiohttp_client_error_has_an_expected_mapping() -> None:
    unmapped = set(aiohttp_exception_classes()) - set(EXPECTED_FOR_AIOHTTP_EXCEPTION)
    assert not unmapped, f"aiohttp grew an exception: decide its class here: {unmapped}"
    assert all(issubclass(cls, CLIENT_ERRORS) for cls in aiohttp_exception_classes().values())


# The classes this aiohttp has (older releases within the pinned range lack a few of the newest).
@pytest.mark.parametrize(("name", "expected"), sorted((name, expected) for name, expected
                                                      in EXPECTED_FOR_AIOHTTP_EXCEPTION.items()
                                                      if name in aiohttp_exception_classes()))
def test_aiohttp_exception_maps_to_its_error_class(name: str, expected: type[EtlError]) -> None:
    error = error_for_exception(aiohttp_instance_of(aiohttp_exception_classes()[name]), source="ttd",
                                operation="download")
    assert type(error) is expected


def test_status_error_from_aiohttp_keeps_its_status_and_retry_after() -> None:
    error = error_for_exception(
        aiohttp.ClientResponseError(None, (), status=429,  # type: ignore[arg-type]
                                    headers=CIMultiDict({"Retry-After": "7"})),
        source="dv360", operation="download")
    assert isinstance(error, RateLimitError) and error.retry_after_s == 7.0
    forbidden = aiohttp.ClientHttpProxyError(None, (), status=407)  # type: ignore[arg-type]
    assert isinstance(error_for_exception(forbidden, source="dv360", operation="download"), SourceAuthError)


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


def test_translated_reraises_from_the_aiohttp_exception() -> None:
    cause = aiohttp.ClientPayloadError("Response payload is not completed")
    with pytest.raises(NetworkError) as caught, translated(source="dv360", operation="download"):
        raise cause
    assert caught.value.__cause__ is cause and "download" in str(caught.value)
