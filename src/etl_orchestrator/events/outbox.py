"""Write an event into the outbox in the caller's transaction (the transactional-outbox half).

A state change and its event commit together or not at all; the relay publishes what committed.
Events are CloudEvents 1.0 JSON; ``id`` is the outbox's ``event_id`` and becomes ``Nats-Msg-Id``.
Each insert also sends ``NOTIFY etl_outbox`` (a statement trigger, migration 0005): PostgreSQL
delivers it only when the transaction commits, so the relay wakes exactly when there is something
new to publish.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert

from etl_orchestrator.db.models import event_outbox
from etl_orchestrator.domain.events import CLOUDEVENT_SOURCE, EventType

OUTBOX_CHANNEL = "etl_outbox"
"""The LISTEN/NOTIFY channel the relay listens on."""
_INSERT_EVENT = insert(event_outbox)  # built once; the values come as parameters


def cloud_event(event_type: EventType, *, event_id: UUID, subject: str, data: dict[str, Any],
                time: datetime | None = None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(event_id),
        "source": CLOUDEVENT_SOURCE,
        "type": str(event_type),
        "subject": subject,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }


def enqueue_event(conn: Connection, event_type: EventType, *, org_id: int | None, pipeline_id: UUID | None,
                  execution_id: UUID | None, data: dict[str, Any]) -> UUID:
    """Add one event to the outbox inside the caller's open transaction."""
    event_id = uuid.uuid4()
    body = {
        "org_id": org_id,
        "pipeline_id": str(pipeline_id) if pipeline_id else None,
        "execution_id": str(execution_id) if execution_id else None,
        **data,
    }
    subject = f"executions/{execution_id}" if execution_id else f"pipelines/{pipeline_id}"
    conn.execute(_INSERT_EVENT, {
        "event_id": event_id, "event_type": str(event_type), "org_id": org_id, "pipeline_id": pipeline_id,
        "execution_id": execution_id,
        "payload": cloud_event(event_type, event_id=event_id, subject=subject, data=body)})
    return event_id
