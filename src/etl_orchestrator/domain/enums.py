"""Enumerations shared by every layer: statuses, layers, sources, rule actions."""

from enum import StrEnum


class ExecutionStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


class LayerStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class SourceKind(StrEnum):
    """Where a pipeline pulls its reports from."""

    DV360 = "dv360"
    TTD = "ttd"
    FILE = "file"


class RuleAction(StrEnum):
    WARN = "warn"
    DROP = "drop"
    FAIL = "fail"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
