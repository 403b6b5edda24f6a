"""Errors as RFC 9457 ``application/problem+json``, each naming the field at fault when there is one.

Domain errors map here, at the one boundary: ValidationFailed → 422, NotFoundError → 404 (also
for what the caller's organization may not see, so existence never leaks), ConflictError → 409,
transient errors (Temporal or the database unreachable) → 503. Bad input is never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from etl_orchestrator.domain.errors import (
    ConflictError,
    EtlError,
    NotFoundError,
    SourceAuthError,
    TRANSIENT_ERRORS,
    ValidationFailed,
)

PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
          413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          500: "Internal Server Error", 503: "Service Unavailable"}


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


async def _domain_error(_: Request, exc: EtlError) -> JSONResponse:
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


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(EtlError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
