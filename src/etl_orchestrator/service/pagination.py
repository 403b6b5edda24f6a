"""Opaque keyset cursors: the sort key of the last row of a page, base64-encoded JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, tuple_

from etl_orchestrator.domain.errors import ValidationFailed

_INVALID = "not a cursor returned by this API"


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor", _INVALID) from exc


def encode_cursor(sort_value: datetime, row_id: UUID) -> str:
    return _encode([sort_value.isoformat(), str(row_id)])


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        sort_value, row_id = _decode(cursor)
        return datetime.fromisoformat(sort_value), UUID(row_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValidationFailed("cursor", _INVALID) from exc


def encode_int_cursor(row_id: int) -> str:
    return _encode([row_id])


def decode_int_cursor(cursor: str) -> int:
    try:
        [row_id] = _decode(cursor)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("cursor", _INVALID) from exc
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 <= row_id < 2**31:
        raise ValidationFailed("cursor", _INVALID)
    return row_id


def after(sort_column: ColumnElement[Any], id_column: ColumnElement[Any], cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor in (sort, id) descending order: a row comparison, which a keyset index on
    those columns serves as a range (an OR of the two conditions it cannot)."""
    sort_value, row_id = decode_cursor(cursor)
    return tuple_(sort_column, id_column) < tuple_(sort_value, row_id)


def page_of(rows: Sequence[Any], limit: int, *, sort: str, key: str = "id") -> tuple[Sequence[Any], str | None]:
    """The first ``limit`` of ``limit + 1`` fetched rows, and the cursor of the next page (None on the last)."""
    page = rows[:limit]
    return page, encode_cursor(page[-1][sort], page[-1][key]) if len(rows) > limit else None
