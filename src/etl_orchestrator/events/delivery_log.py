"""The webhook delivery log (``webhook_deliveries``): one row per attempt, written and listed here.

Listing is keyset-paginated on the row id, newest first; the cursor is opaque to callers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from etl_orchestrator.db.models import webhook_deliveries
from etl_orchestrator.domain.errors import ValidationFailed

_CURSOR_PREFIX = "wd:"


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one POST of one event to one pipeline's webhook came to."""

    pipeline_id: UUID
    org_id: int
    event_id: UUID
    event_type: str
    url: str
    attempt: int
    status_code: int | None
    success: bool
    error: str | None
    duration_ms: int


async def record_attempt(engine: AsyncEngine, attempt: DeliveryAttempt) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(webhook_deliveries).values(
            pipeline_id=attempt.pipeline_id, org_id=attempt.org_id, event_id=attempt.event_id,
            event_type=attempt.event_type, url=attempt.url, attempt=attempt.attempt,
            status_code=attempt.status_code, success=attempt.success,
            error=attempt.error[:2000] if attempt.error else None, duration_ms=attempt.duration_ms,
        ))


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        if raw.startswith(_CURSOR_PREFIX):
            return int(raw.removeprefix(_CURSOR_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed("cursor", "not a cursor returned by this API")


async def list_deliveries(engine: AsyncEngine, *, pipeline_id: UUID, limit: int,
                          cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a pipeline's delivery attempts, newest first, and the cursor of the next page."""
    query = select(webhook_deliveries).where(webhook_deliveries.c.pipeline_id == pipeline_id)
    if cursor is not None:
        query = query.where(webhook_deliveries.c.id < decode_cursor(cursor))
    query = query.order_by(webhook_deliveries.c.id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = [dict(row) for row in (await conn.execute(query)).mappings()]
    next_cursor = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], next_cursor
