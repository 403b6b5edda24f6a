"""The error taxonomy every layer speaks.

Each error is either *transient* (a retry may help) or *terminal* (it cannot), and belongs to one
failure class of the seed's retry table: ``network``, ``rate_limit``, ``data`` or ``timeout``.
Third-party exceptions (httpx, deltalake, psycopg) are translated into these where they enter the
code; the activity boundary (``activities/retrying.py``) turns them into Temporal retry behaviour.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class FailureClass(StrEnum):
    """The rows of the seed's retry table."""

    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    DATA = "data"
    TIMEOUT = "timeout"


class EtlError(Exception):
    """Base of every error the orchestrator raises on purpose."""

    failure_class: FailureClass = FailureClass.DATA
    terminal: bool = True

    def __init__(self, message: str, **context: object) -> None:
        self.context = {key: value for key, value in context.items() if value is not None}
        suffix = ", ".join(f"{key}={value}" for key, value in self.context.items())
        super().__init__(f"{message} ({suffix})" if suffix else message)
        self.message = message


class NetworkError(EtlError):
    """A connection failed, was reset, or the server answered 5xx. Transient."""

    failure_class = FailureClass.NETWORK
    terminal = False


class RateLimitError(EtlError):
    """The source refused for quota reasons (HTTP 429). Transient; wait until ``reset_at``.

    ``retry_after_s`` is what the source said (``Retry-After``); ``None`` when it said nothing,
    in which case the retry policy's configured default wait applies.
    """

    failure_class = FailureClass.RATE_LIMIT
    terminal = False

    def __init__(self, message: str, *, retry_after_s: float | None = None, reset_at: datetime | None = None,
                 **context: object) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **context)
        self.retry_after_s = retry_after_s
        self.reset_at = reset_at


class SourceTimeoutError(EtlError):
    """The source did not answer in time (client timeout, 504). Transient."""

    failure_class = FailureClass.TIMEOUT
    terminal = False


class DataError(EtlError):
    """The data itself is wrong (unparseable file, failed ``fail`` rule). Terminal: fail fast."""

    failure_class = FailureClass.DATA
    terminal = True


class SourceAuthError(DataError):
    """The source rejected the credentials (HTTP 401/403). Terminal: retrying cannot help."""


class NotFoundError(EtlError):
    """Something the caller referenced does not exist (or is not visible to its organization)."""


class ConflictError(EtlError):
    """The request conflicts with the current state (duplicate name, wrong state for the action)."""


class ValidationFailed(EtlError):
    """Input that names a field which is malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


TRANSIENT_ERRORS: tuple[type[EtlError], ...] = (NetworkError, RateLimitError, SourceTimeoutError)
