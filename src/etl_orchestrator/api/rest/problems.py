"""Errors as RFC 9457 ``application/problem+json``, each naming the field at fault when there is one.

Domain errors map here, at the one boundary: ValidationFailed → 422, NotFoundError → 404 (also
for what the caller's organization may not see, so existence never leaks), ConflictError → 409,
transient errors (Temporal or the database unreachable) → 503. Infrastructure exceptions that
escaped the service layer go through ``service.errors.as_domain_error`` first, so bad input is
never a 500; what maps to nothing is a bug, answered as a 500 problem and logged.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from etl_orchestrator.domain.errors import (
    TRANSIENT_ERRORS,
    ConflictError,
    EtlError,
    NotFoundError,
    SourceAuthError,
    ValidationFailed,
)
from etl_orchestrator.service.errors import INFRASTRUCTURE_ERRORS, as_domain_error

PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
          413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          500: "Internal Server Error", 503: "Service Unavailable"}
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8, or not the declared content type).",
    401: "No valid API key: missing, unknown or revoked (`Authorization: Bearer etl_…`).",
    404: "Not found, or not visible to the caller's organization.",
    409: "Conflicts with the current state (duplicate name, wrong state for the action).",
    413: "The request body is larger than `api.max_body_bytes`.",
    422: "Malformed input; `field` names it.",
    503: "PostgreSQL or Temporal is unavailable; retry.",
}

log = structlog.get_logger(__name__)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers (the schema is added by ``app.openapi``)."""
    return {status: {"description": DESCRIPTIONS.get(status, TITLES.get(status, "Error")),
                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for status in statuses}


def problem(status: int, detail: str, *, field: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(part) for part in loc)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _location(tuple(item.get("loc", ()))), "message": item.get("msg", "invalid")}
              for item in exc.errors()]
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors) or "invalid request"
    return problem(422, detail, field=errors[0]["field"] if errors else None, errors=errors)


def domain_problem(exc: EtlError) -> JSONResponse:
    if isinstance(exc, ValidationFailed):
        return problem(422, str(exc), field=exc.field)
    if isinstance(exc, NotFoundError):
        return problem(404, exc.message)
    if isinstance(exc, ConflictError):
        return problem(409, str(exc))
    if isinstance(exc, SourceAuthError):
        return problem(422, str(exc))
    if isinstance(exc, TRANSIENT_ERRORS):
        return problem(503, str(exc), headers={"Retry-After": "1"})
    return problem(400, str(exc))


async def _domain_error(_: Request, exc: EtlError) -> JSONResponse:
    return domain_problem(exc)


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    mapped = as_domain_error(exc)
    if mapped is not None:
        return domain_problem(mapped)
    log.error("unhandled error", path=request.url.path, error=repr(exc), exc_info=exc)
    return problem(500, "internal error")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(EtlError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for infrastructure_error in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(infrastructure_error, _unexpected_error)
    # Anything else is a bug: still a problem+json 500 (Starlette then re-raises it, so the server logs it).
    app.add_exception_handler(Exception, _unexpected_error)
