"""A partition is one (organization, pipeline, report date): the unit every layer processes."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class PartitionRef(BaseModel):
    """Names one partition. Travels through Temporal payloads instead of rows."""

    model_config = ConfigDict(frozen=True)

    org_id: int
    pipeline_id: UUID
    date: date

    @property
    def key(self) -> str:
        return f"org={self.org_id}/pipeline={self.pipeline_id}/date={self.date.isoformat()}"


def dates_in_range(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
