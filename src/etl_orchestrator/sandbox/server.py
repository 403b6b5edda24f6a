"""Run the sandbox with uvicorn until SIGTERM or SIGINT."""

from __future__ import annotations

import logging

import uvicorn

from etl_orchestrator.sandbox.app import create_app
from etl_orchestrator.sandbox.routes.storage import DeliberateTruncationError
from etl_orchestrator.sandbox.settings import SandboxSettings


class _HideDeliberateTruncationError(logging.Filter):
    """A scripted truncated download is not a server error; keep its traceback out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if isinstance(error, DeliberateTruncationError):
                return False
            nested = getattr(error, "exceptions", None)  # an ExceptionGroup from the response's task group
            error = nested[0] if nested else error.__cause__ or error.__context__
        return True


def serve(settings: SandboxSettings) -> None:
    """Serve the sandbox on ``settings.host:port``; blocks. uvicorn stops on SIGTERM/SIGINT, giving
    open requests (a scripted slow response, a download) at most a second."""
    logging.getLogger("uvicorn.error").addFilter(_HideDeliberateTruncationError())
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        lifespan="on",
    )
    uvicorn.Server(config).run()
