"""Checks of caller input that every adapter shares, each raising ``ValidationFailed`` naming the field.

The adapters' own parsing (pydantic for REST, proto types for gRPC) catches shapes; these catch
what PostgreSQL would otherwise refuse with an error that names nothing (NUL characters, integers
beyond 32 bits) and the rules of this service (ranges, URLs).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from etl_orchestrator.domain.errors import ValidationFailed

INT32_MAX = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(field: str, value: str, *, max_length: int, min_length: int = 1) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(field, "must be a string")
    if len(value.strip()) < min_length:
        raise ValidationFailed(field, "must not be empty" if min_length else "invalid")
    if len(value) > max_length:
        raise ValidationFailed(field, f"at most {max_length} characters")
    if _CONTROL.search(value):
        raise ValidationFailed(field, "must not contain control characters")
    return value


def json_value(field: str, value: Any, *, depth: int = 0) -> Any:
    """A JSON document PostgreSQL's jsonb accepts (no NUL in strings or keys), at most 32 levels deep."""
    if depth > 32:
        raise ValidationFailed(field, "nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed(field, "must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise ValidationFailed(field, "keys must be strings without NUL characters")
            json_value(f"{field}.{key}", item, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            json_value(f"{field}.{index}", item, depth=depth + 1)
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        pass
    elif isinstance(value, int):
        if abs(value) > 2**63 - 1:
            raise ValidationFailed(field, "integer out of range")
    else:
        raise ValidationFailed(field, f"not a JSON value: {type(value).__name__}")
    return value


def http_url(field: str, value: str) -> str:
    text(field, value, max_length=2000)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(field, "must be an http:// or https:// URL")
    return value


def int_range(field: str, value: int, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed(field, f"must be an integer from {minimum} to {maximum}")
    return value


def uuid(field: str, value: str | UUID) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed(field, f"not a UUID: {str(value)[:60]!r}") from None


def iso_date(field: str, value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (ValueError, TypeError):
        raise ValidationFailed(field, f"not a date (YYYY-MM-DD): {str(value)[:40]!r}") from None


def date_order(date_from: date | None, date_to: date | None, *, field: str = "date_from") -> None:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationFailed(field, f"date_from ({date_from}) is after date_to ({date_to})")
