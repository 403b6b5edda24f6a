"""A small synchronous client of the REST API: JSON in and out, problems raised as ``ApiError``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx

from etl_orchestrator.client.endpoint import Endpoint
from etl_orchestrator.client.sse import Comment, Event, SseParser

PREFIX = "/api/v1/etl"
# httpx logs every request at INFO: the client's output is its tables, not a request log.
logging.getLogger("httpx").setLevel(logging.WARNING)


class ApiError(Exception):
    """The API answered with a problem (4xx/5xx), or could not be reached (status 0)."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(f"{status} {detail}" if status else detail)
        self.status, self.detail, self.field = status, detail, field


class ApiClient:
    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 30) -> None:
        self._http = httpx.Client(base_url=endpoint.api_url + PREFIX, timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {endpoint.key}"})

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        params = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the API at {self._http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _problem(response)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def events(self, path: str) -> Iterator[Event | Comment]:
        """A server-sent event stream, item by item, until the server closes it."""
        parser = SseParser()
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(30, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _problem(response)
                for line in response.iter_lines():
                    item = parser.feed(line)
                    if item is not None:
                        yield item
        except httpx.HTTPError as exc:
            raise ApiError(0, f"the event stream broke: {exc}") from exc


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text[:200] or response.reason_phrase)
    return ApiError(response.status_code, str(body.get("detail", body)), body.get("field"))
