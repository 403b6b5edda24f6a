"""Between the service layer's dicts and ``etl.v1`` messages.

The proto's field names are the service views' keys, so a view becomes a message with
``json_format.ParseDict`` (unknown keys ignored: a view may carry more than the message) after
its values are made JSON-like (timestamps as RFC 3339, ids as strings). Requests are read field by
field; the helpers here turn empty or malformed values into ``ValidationFailed`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel, ValidationError

from etl_orchestrator.domain.errors import ValidationFailed
from etl_orchestrator.service import validation

M = TypeVar("M", bound=Message)
P = TypeVar("P", bound=BaseModel)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_message(message_type: type[M], view: Mapping[str, Any]) -> M:
    return json_format.ParseDict(_jsonable(view), message_type(), ignore_unknown_fields=True)


def _whole_numbers(value: Any) -> Any:
    """Struct numbers are doubles; JSON written as 30 should come back as 30, not 30.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def json_of(message: Message) -> Any:
    """A Struct or ListValue as plain JSON (dict or list)."""
    return _whole_numbers(json_format.MessageToDict(message))


def present(message: Message, field: str) -> Any:
    """The field's value when the sender set it (proto3 ``optional`` or a message), else None."""
    return getattr(message, field) if message.HasField(field) else None


def required_uuid(field: str, value: str) -> UUID:
    if not value:
        raise ValidationFailed(field, "required")
    return validation.uuid(field, value)


def optional_uuid(field: str, value: str) -> UUID | None:
    return validation.uuid(field, value) if value else None


def optional_date(field: str, value: str) -> date | None:
    return validation.iso_date(field, value) if value else None


def date_range(message: Message, field: str = "date_range") -> tuple[date, date] | None:
    """``start``/``end`` of a DateRange field, or None when unset; ``end`` before ``start`` is invalid."""
    if not message.HasField(field):
        return None
    value = getattr(message, field)
    start = validation.iso_date(f"{field}.start", value.start)
    end = validation.iso_date(f"{field}.end", value.end)
    if end < start:
        raise ValidationFailed(f"{field}.end", f"end ({end}) is before start ({start})")
    return start, end


def page_size(limit: int, *, default: int = 50, maximum: int = 500) -> int:
    if limit == 0:
        return default
    return validation.int_range("limit", limit, minimum=1, maximum=maximum)


def parse_model(model: type[P], data: dict[str, Any]) -> P:
    """A service-layer request model, its validation errors as ``ValidationFailed`` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(".".join(str(part) for part in first["loc"]) or "request", first["msg"]) from None
