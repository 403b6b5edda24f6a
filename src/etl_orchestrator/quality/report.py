"""The quality issues a layer reports: one small object per rule (or check) that found something.

The activity layer stores each as a ``data_quality_metrics`` row (``metric_type``, ``count``,
``severity``, ``details``) and publishes ``quality.issue_detected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etl_orchestrator.domain.enums import RuleAction, Severity


class MetricType:
    """The ``metric_type`` values of ``data_quality_metrics`` that Silver writes."""

    MISSING_FIELDS = "missing_fields"
    INVALID_TYPES = "invalid_types"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CURRENCY = "unknown_currency"
    ACCEPTED_VALUES = "accepted_values"
    CURRENCY_INCONSISTENT = "currency_inconsistent"
    DUPLICATES = "duplicates"
    TOTALS_MISMATCH = "totals_mismatch"
    VOLUME_ANOMALY = "volume_anomaly"
    STALE_DATA = "stale_data"
    WRONG_PARTITION = "wrong_partition"


def severity_of(action: RuleAction) -> Severity:
    """fail → error; drop and warn → warning (the rows were handled, someone should look)."""
    return Severity.ERROR if action == RuleAction.FAIL else Severity.WARNING


@dataclass(frozen=True)
class QualityIssue:
    """What one rule found in one partition: ``count`` rows (or 1 for a partition-level finding)."""

    metric_type: str
    count: int
    severity: str
    action: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.rule} ({self.metric_type}, {self.action}): {self.count}"
