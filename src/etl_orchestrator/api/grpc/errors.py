"""The one mapping of errors to gRPC status codes, and the decorators that apply it to every RPC.

Codes match the REST answers: ValidationFailed → INVALID_ARGUMENT (422, the message starts with
the field and trailing metadata ``field`` names it), NotFoundError → NOT_FOUND (404, also for what
the caller may not see), AlreadyExists → ALREADY_EXISTS and other conflicts → FAILED_PRECONDITION
(409), transient errors → UNAVAILABLE (503), no valid key → UNAUTHENTICATED (401). Infrastructure
exceptions go through ``service.errors.as_domain_error`` first; what maps to nothing is INTERNAL.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from etl_orchestrator.domain.errors import (
    TRANSIENT_ERRORS,
    ConflictError,
    EtlError,
    NotFoundError,
    SourceAuthError,
    ValidationFailed,
)
from etl_orchestrator.service.auth import authenticate
from etl_orchestrator.service.context import Principal
from etl_orchestrator.service.errors import AlreadyExists, as_domain_error

log = structlog.get_logger(__name__)
BEARER = "bearer "


def status_of(error: EtlError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    if isinstance(error, ValidationFailed):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error), (("field", error.field),)
    if isinstance(error, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, error.message, ()
    if isinstance(error, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(error), ()
    if isinstance(error, ConflictError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(error), ()
    if isinstance(error, SourceAuthError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error), ()
    if isinstance(error, TRANSIENT_ERRORS):
        return grpc.StatusCode.UNAVAILABLE, str(error), ()
    return grpc.StatusCode.INVALID_ARGUMENT, str(error), ()


async def _abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    error = as_domain_error(exc)
    if error is None:
        log.error("unhandled error in an RPC", error=repr(exc), exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    code, details, trailers = status_of(error)
    await context.abort(code, details, trailing_metadata=trailers)


async def _principal(servicer: Any, context: grpc.aio.ServicerContext) -> Principal:
    metadata = {key: value for key, value in context.invocation_metadata() or ()}
    header = metadata.get("authorization", "")
    key = header[len(BEARER):].strip() if header.lower().startswith(BEARER) else None
    principal = await authenticate(servicer.ctx, key)
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "missing, unknown or revoked API key (metadata `authorization: Bearer etl_…`)")
    return principal


Unary = Callable[[Any, Any, Principal], Awaitable[Any]]
Streaming = Callable[[Any, Any, Principal], AsyncIterator[Any]]


def unary(method: Unary) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """Authenticate, run, and turn any error into its status (abort is outside ``except``: it raises)."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        principal = await _principal(self, context)
        try:
            return await method(self, request, principal)
        except Exception as exc:  # every error becomes a status at this one boundary
            failure = exc
        await _abort(context, failure)

    return handler


def server_streaming(method: Streaming) -> Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        principal = await _principal(self, context)
        try:
            async with contextlib.aclosing(method(self, request, principal)) as messages:
                async for message in messages:
                    yield message
            return
        except Exception as exc:  # every error becomes a status at this one boundary
            failure = exc
        await _abort(context, failure)

    return handler
