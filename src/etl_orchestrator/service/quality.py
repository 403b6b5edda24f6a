"""Data-quality summary (the seed's ``GET /data-quality``), computed from ``data_quality_metrics`` rows.

Silver writes, per partition, ``records_total`` (rows read from Bronze) and ``records_valid``
(rows kept in Silver) beside one row per issue type; the score is valid / total × 100.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from etl_orchestrator.db.models import data_quality_metrics, pipelines
from etl_orchestrator.domain.errors import ValidationFailed
from etl_orchestrator.service.context import Principal, ServiceContext

TOTAL, VALID = "records_total", "records_valid"
SEED_ISSUE_TYPES = ("missing_fields", "invalid_types", "duplicates")
_WINDOW = re.compile(r"^(\d{1,4})([hd])$")


def parse_window(window: str) -> timedelta:
    match = _WINDOW.match(window)
    if not match or int(match.group(1)) == 0:
        raise ValidationFailed("window", f"{window!r} is not a window like 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=amount) if unit == "h" else timedelta(days=amount)


def _score(valid: int, total: int) -> float | None:
    return round(valid / total * 100, 2) if total else None


async def quality_summary(ctx: ServiceContext, principal: Principal, *, window: str = "24h",
                          pipeline_id: UUID | None = None) -> dict[str, Any]:
    since = datetime.now(UTC).replace(tzinfo=None) - parse_window(window)
    metrics = data_quality_metrics.c
    conditions = [metrics.timestamp >= since]
    if not principal.is_admin:
        conditions.append(metrics.org_id == principal.org_id)
    if pipeline_id:
        conditions.append(metrics.pipeline_id == pipeline_id)
    per_type = (select(metrics.pipeline_id, metrics.metric_type, func.sum(metrics.count).label("n"))
                .where(*conditions).group_by(metrics.pipeline_id, metrics.metric_type))
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(per_type)).all()
        names = dict((await conn.execute(select(pipelines.c.id, pipelines.c.name).where(
            pipelines.c.id.in_({row.pipeline_id for row in rows})))).all()) if rows else {}
    totals: dict[str, int] = {}
    by_pipeline: dict[UUID, dict[str, int]] = {}
    for row in rows:
        count = int(row.n or 0)
        totals[row.metric_type] = totals.get(row.metric_type, 0) + count
        entry = by_pipeline.setdefault(row.pipeline_id, {})
        entry[row.metric_type] = entry.get(row.metric_type, 0) + count
    issues = {name: totals.get(name, 0) for name in SEED_ISSUE_TYPES}
    issues.update({name: count for name, count in totals.items() if name not in (TOTAL, VALID)})
    total, valid = totals.get(TOTAL, 0), totals.get(VALID, 0)
    label = "last_" + window
    return {
        "quality_metrics": {
            label: {"total_records": total, "valid_records": valid, "quality_score": _score(valid, total),
                    "issues": issues},
        },
        "by_pipeline": [
            {"pipeline_id": str(pid), "pipeline_name": names.get(pid), "quality_score":
                _score(entry.get(VALID, 0), entry.get(TOTAL, 0)),
             "issues": sum(count for name, count in entry.items() if name not in (TOTAL, VALID))}
            for pid, entry in sorted(by_pipeline.items(), key=lambda item: str(names.get(item[0])))
        ],
    }
