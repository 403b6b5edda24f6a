"""Error bodies as the real APIs send them.

Google (Bid Manager, DV360): ``{"error": {"code": 429, "message": "…", "status": "RESOURCE_EXHAUSTED"}}``.
The Trade Desk (paths under ``/ttd/``): ``{"Message": "…", "ErrorDetails": [{"Reasons": ["…"]}]}``.
Storage downloads (``/storage/``) answer like GCS, with an XML body.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel, to_pascal
from starlette.exceptions import HTTPException as StarletteHTTPException

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    416: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    429: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'.",
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
}
GCS_CODES = {
    400: "ExpiredToken",
    403: "SignatureDoesNotMatch",
    404: "NoSuchKey",
    416: "InvalidRange",
    429: "SlowDown",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """Answer the request with an error status and the API's error body."""

    def __init__(self, code: int, message: str | None = None, *, retry_after_s: float | None = None) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, "Unknown error.")
        self.retry_after_s = retry_after_s
        super().__init__(f"{code} {self.message}")


class StrictBody(BaseModel):
    """A Google request body: camelCase on the wire, snake_case in Python; unknown fields are
    rejected, as Google's JSON parser rejects them."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class TtdBody(StrictBody):
    """A Trade Desk request body: PascalCase on the wire."""

    model_config = ConfigDict(alias_generator=to_pascal)


def parse(model: type[StrictBody], raw: object, resource: str) -> Any:
    """Validate a request body; 400 names the first bad field (``Invalid value at 'query.params.type'``)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([resource, *(str(part) for part in first["loc"])])
        raise ApiError(400, f"Invalid value at '{where}': {first['msg']}") from exc


class MalformedResponseError(Exception):
    """Answer 200 with a body that is not JSON (a scripted fault)."""


def _headers(error: ApiError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(math.ceil(error.retry_after_s))  # delay-seconds is an integer
    if error.code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox", error="invalid_token"'
    return headers


def error_response(request: Request, error: ApiError) -> Response:
    path = request.url.path
    if path.startswith("/ttd/"):
        body: dict[str, object] = {"Message": error.message, "ErrorDetails": [{"Reasons": [error.message]}]}
        return JSONResponse(body, status_code=error.code, headers=_headers(error))
    if path.startswith("/storage/"):
        code = GCS_CODES.get(error.code, "InternalError")
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{error.message}</Message></Error>"
        )
        return Response(xml, status_code=error.code, media_type="application/xml", headers=_headers(error))
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "status": GOOGLE_STATUS.get(error.code, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=error.code, headers=_headers(error))


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error_response(request, error)

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        return error_response(request, ApiError(400, f"Invalid request: {problems}"))

    async def on_http_exception(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        return error_response(request, ApiError(error.status_code, DEFAULT_MESSAGES.get(error.status_code)))

    async def on_malformed(request: Request, error: Exception) -> Response:
        return Response('{"queryId": "12', status_code=200, media_type="application/json")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(MalformedResponseError, on_malformed)
