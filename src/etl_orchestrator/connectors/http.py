"""HTTP plumbing of the API connectors — and the one place HTTP client errors become domain errors.

API calls go through httpx; a report file is downloaded with aiohttp. Why two clients: a report is
tens of megabytes, and httpx reads a body in 64 KiB pieces through four layers of Python (httpx,
httpcore, h11, anyio). A 44 MB DV360 day cost the worker 85.5 ms of CPU that way, 42.6 ms with
aiohttp, whose parser and buffers are C (median of eight downloads from the same sandbox, connection
set-up included; one-off harness).

``error_for_status`` and ``error_for_exception`` are the whole mapping, for both clients:

| what happened                                    | raised                                         |
|--------------------------------------------------|------------------------------------------------|
| connect error, reset, remote protocol error, 5xx | NetworkError                                   |
| 429 (and 425 Too Early)                          | RateLimitError (``retry_after_s``: Retry-After) |
| timeout (connect or read), 408, 504              | SourceTimeoutError                             |
| 401, 403, 407                                    | SourceAuthError                                |
| 400, 404, other 4xx, malformed JSON, bad URL     | DataError                                      |

``translated(...)`` applies it around any block of client calls; ``HttpSource`` uses it for every
request and download, so connectors never see an httpx or aiohttp exception.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from etl_orchestrator.connectors.base import DownloadResult, ProgressCallback, ReportHandle
from etl_orchestrator.connectors.landing import PartialFile
from etl_orchestrator.domain.budgets import InsertionOrder
from etl_orchestrator.domain.errors import (
    DataError,
    EtlError,
    NetworkError,
    RateLimitError,
    SourceAuthError,
    SourceTimeoutError,
)

_DETAIL_LIMIT = 300
_RANGE_REJECTED = object()

# aiohttp's errors for a request or response that retrying cannot fix; the two response errors among
# them are mapped as such, not by their status.
_AIOHTTP_DATA_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, aiohttp.RedirectClientError, aiohttp.TooManyRedirects,
    aiohttp.ContentTypeError,
)

# Most specific first: LocalProtocolError is a ProtocolError, but it is our request that is wrong.
_EXCEPTION_CLASSES: tuple[tuple[tuple[type[Exception], ...], type[EtlError]], ...] = (
    ((httpx.TimeoutException,), SourceTimeoutError),
    (
        (
            httpx.LocalProtocolError,
            httpx.UnsupportedProtocol,
            httpx.InvalidURL,
            httpx.TooManyRedirects,
            httpx.CookieConflict,
            httpx.StreamError,
        ),
        DataError,
    ),
    ((httpx.TransportError, httpx.DecodingError), NetworkError),  # connect/read/write errors, resets, proxies
    ((httpx.HTTPError,), NetworkError),  # anything httpx adds later: assume the wire, retry
    # aiohttp (downloads). Its connect and read timeouts are ServerTimeoutErrors; any other response
    # error is mapped by its status (error_for_exception).
    ((aiohttp.ServerTimeoutError,), SourceTimeoutError),
    (_AIOHTTP_DATA_ERRORS, DataError),
    ((aiohttp.ClientError,), NetworkError),  # resets, cut bodies (ClientPayloadError), anything added later
)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delay-seconds or an HTTP date; None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def error_detail(body: str) -> str:
    """The message of a Google (``error.message``) or TTD (``Message``) error body, else the text."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:_DETAIL_LIMIT]
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), dict) and parsed["error"].get("message"):
            return str(parsed["error"]["message"])[:_DETAIL_LIMIT]
        if parsed.get("Message"):
            return str(parsed["Message"])[:_DETAIL_LIMIT]
    return body.strip()[:_DETAIL_LIMIT]


def error_for_status(
    status: int, *, source: str, operation: str, retry_after: str | None = None, detail: str = ""
) -> EtlError:
    """The domain error for an unsuccessful HTTP status."""
    message = f"{source} {operation} failed with HTTP {status}" + (f": {detail}" if detail else "")
    context: dict[str, object] = {"source": source, "operation": operation, "status": status}
    if status in (401, 403, 407):
        return SourceAuthError(message, **context)
    if status in (425, 429):
        return RateLimitError(message, retry_after_s=parse_retry_after(retry_after), **context)
    if status in (408, 504):
        return SourceTimeoutError(message, **context)
    if status >= 500:
        return NetworkError(message, **context)
    return DataError(message, **context)


def error_for_exception(exc: Exception, *, source: str, operation: str) -> EtlError:
    """The domain error for an httpx or aiohttp exception (those carrying a status go through
    ``error_for_status``)."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return response_error(response.status_code, response.headers, source=source, operation=operation)
    if isinstance(exc, aiohttp.ClientResponseError) and not isinstance(exc, _AIOHTTP_DATA_ERRORS):
        return response_error(exc.status, exc.headers or {}, source=source, operation=operation)
    for classes, error_class in _EXCEPTION_CLASSES:
        if isinstance(exc, classes):
            return error_class(
                f"{source} {operation} failed: {type(exc).__name__}: {exc}",
                source=source,
                operation=operation,
            )
    raise TypeError(f"not an httpx or aiohttp exception: {exc!r}")


HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.CookieConflict,
    httpx.StreamError,
)
"""Every exception httpx raises (three of them do not derive from ``httpx.HTTPError``)."""
CLIENT_ERRORS: tuple[type[Exception], ...] = (*HTTPX_ERRORS, aiohttp.ClientError)
"""Every exception of either client (aiohttp's all derive from ``ClientError``)."""


@contextmanager
def translated(*, source: str, operation: str) -> Iterator[None]:
    """Re-raise httpx and aiohttp exceptions inside the block as domain errors (``raise … from``)."""
    try:
        yield
    except CLIENT_ERRORS as exc:
        raise error_for_exception(exc, source=source, operation=operation) from exc


async def ensure_success(response: httpx.Response, *, source: str, operation: str) -> None:
    """Raise the domain error of a non-2xx response (reading its body for the message)."""
    if response.is_success:
        return
    with translated(source=source, operation=operation):
        await response.aread()
    raise response_error(response.status_code, response.headers, source=source, operation=operation,
                         body=response.text)


def response_error(status: int, headers: Mapping[str, str], *, source: str, operation: str,
                   body: str = "") -> EtlError:
    """``error_for_status`` of a response of either client: Retry-After from its headers, the
    message from its body."""
    return error_for_status(status, source=source, operation=operation, retry_after=headers.get("Retry-After"),
                            detail=error_detail(body))


def json_object(response: httpx.Response, *, source: str, operation: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise DataError(
            f"{source} {operation} answered malformed JSON: {response.text[:80]!r}",
            source=source,
            operation=operation,
        ) from exc
    if not isinstance(body, dict):
        raise DataError(
            f"{source} {operation} answered JSON that is not an object", source=source, operation=operation
        )
    return body


def client_timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (tens of ms of CPU),
    and every activity builds fresh clients."""
    return httpx.create_ssl_context()


# Idle pooled connections are dropped before common servers' keep-alive (uvicorn's 5 s) closes them:
# a request sent on a connection the server is just closing fails instead of being answered.
POOL_KEEPALIVE_S = 2.0
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncHTTPTransport] = weakref.WeakKeyDictionary()


class _PooledTransport(httpx.AsyncBaseTransport):
    """The running loop's connection pool, shared by every source client on that loop.

    Why: each partition builds fresh clients (the credentials are the pipeline's), and a fresh pool
    paid a TCP connect and its setup for the report request and again for the download. Clients
    reuse the loop's pool instead; closing a client leaves the pool to the loop. The pool carries
    no credentials: headers and base URL stay on each client.
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        pool = _pools.get(loop)
        if pool is None:
            pool = _pools[loop] = httpx.AsyncHTTPTransport(
                verify=shared_tls_context(), limits=httpx.Limits(keepalive_expiry=POOL_KEEPALIVE_S))
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Nothing: the pool outlives the client (its idle connections expire on their own)."""


def _transport() -> httpx.AsyncBaseTransport | None:
    """The loop's shared pool; None (a pool of the client's own) outside a running loop."""
    try:
        return _PooledTransport()
    except RuntimeError:
        return None


class HttpSource:
    """An authenticated API client plus a credential-free one for pre-signed download URLs."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        headers: dict[str, str],
        timeout_s: float,
        chunk_bytes: int = 1024 * 1024,
    ) -> None:
        self.source = source
        self.chunk_bytes = chunk_bytes
        self.timeout_s = timeout_s
        self._api = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=client_timeout(timeout_s),
                                      verify=shared_tls_context(), transport=_transport())

    async def call(self, method: str, url: str, *, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One API request; its JSON object, or the domain error."""
        with translated(source=self.source, operation=operation):
            response = await self._api.request(method, url, **kwargs)
        await ensure_success(response, source=self.source, operation=operation)
        return json_object(response, source=self.source, operation=operation)

    async def download(
        self, url: str, dest: Path, *, resume_from: int = 0, on_progress: ProgressCallback | None = None
    ) -> DownloadResult:
        """Stream ``url`` into ``dest`` via a verified partial file, resuming with ``Range`` if it can.

        A session of its own, without our headers: pre-signed URLs must not carry the bearer token
        (storage would reject a second credential). Its one connection costs less than the body.
        """
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(self.timeout_s, 10.0),
                                        sock_read=self.timeout_s)
        with PartialFile(dest, resume_from=resume_from, source=self.source) as landing, \
                translated(source=self.source, operation="download"):
            # The body as sent (no decompression), like the byte count the source declares; proxies
            # from the environment, as httpx honours them for the API calls.
            session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False, trust_env=True,
                                            connector=aiohttp.TCPConnector(ssl=shared_tls_context()))
            async with session:
                expected = await self._fetch(session, url, landing, on_progress)
                if expected is _RANGE_REJECTED:  # our partial is longer than the file: it was another file
                    landing.restart()
                    expected = await self._fetch(session, url, landing, on_progress)
            return landing.commit(expected_size=expected if isinstance(expected, int) else None)

    async def _fetch(
        self, session: aiohttp.ClientSession, url: str, landing: PartialFile,
        on_progress: ProgressCallback | None,
    ) -> int | object:
        """Append the response body to ``landing``; the declared full size (None if undeclared)."""
        headers = {"Range": f"bytes={landing.offset}-"} if landing.offset else {}
        async with session.get(url, headers=headers) as response:
            if response.status == 416 and landing.offset:
                return _RANGE_REJECTED
            if not 200 <= response.status < 300:
                raise response_error(response.status, response.headers, source=self.source,
                                     operation="download", body=await response.text(errors="replace"))
            if landing.offset and response.status != 206:
                landing.restart()  # the server ignored Range and sends the whole file
            expected = _expected_size(response.status, response.headers, landing.offset)
            reported = landing.size
            # Received pieces are written in batches of about chunk_bytes on a thread: a write that
            # waits for the disk (writeback under a backfill's load) must not stall the worker's event
            # loop. Pieces received before a cut are still written, and a resume starts after them;
            # progress is reported once per batch.
            pending: list[bytes] = []
            pending_bytes = 0
            try:
                async for data in response.content.iter_any():
                    pending.append(data)
                    pending_bytes += len(data)
                    if pending_bytes >= self.chunk_bytes:
                        batch, pending, pending_bytes = pending, [], 0
                        await asyncio.to_thread(landing.write, *batch)
                        if on_progress is not None:
                            reported = landing.size
                            on_progress(reported)
            finally:
                landing.write(*pending)
        if on_progress is not None and landing.size != reported:
            on_progress(landing.size)
        return expected

    async def aclose(self) -> None:
        await self._api.aclose()


def _expected_size(status: int, headers: Mapping[str, str], offset: int) -> int | None:
    """The full file's size: from ``Content-Range`` on a 206, else ``Content-Length``."""
    content_range = headers.get("Content-Range", "")
    if status == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


class HttpConnectorBase:
    """What the API connectors share: a report is downloaded from its URL without credentials,
    there are no budgets unless a subclass reads them, and closing closes the HTTP clients."""

    _http: HttpSource

    async def download(
        self,
        handle: ReportHandle,
        dest: Path,
        *,
        resume_from: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        if not handle.done or not handle.download_url:
            raise DataError(
                f"{self._http.source} report {handle.report_id or handle.query_id} is {handle.state}, "
                "not DONE: nothing to download",
                source=self._http.source,
            )
        return await self._http.download(
            handle.download_url, dest, resume_from=resume_from, on_progress=on_progress
        )

    async def insertion_orders(self) -> list[InsertionOrder]:
        orders: list[InsertionOrder] = []
        for advertiser_id in await self.budget_advertisers():
            orders += await self.advertiser_insertion_orders(advertiser_id)
        return orders

    async def budget_advertisers(self) -> list[str]:
        return []

    async def advertiser_insertion_orders(self, advertiser_id: str) -> list[InsertionOrder]:
        return []

    async def aclose(self) -> None:
        await self._http.aclose()
