"""Opaque keyset cursors: the sort key of the last row of a page, base64-encoded."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from uuid import UUID

from etl_orchestrator.domain.errors import ValidationFailed


def encode_cursor(sort_value: datetime, row_id: UUID) -> str:
    raw = json.dumps([sort_value.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(sort_value), UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("cursor", "not a cursor returned by this API") from exc
