"""The event types of the seed, published on ``etl.events`` as CloudEvents."""

from enum import StrEnum


class EventType(StrEnum):
    EXECUTION_STARTED = "execution.started"
    EXECUTION_COMPLETED = "execution.completed"
    EXECUTION_FAILED = "execution.failed"
    LAYER_COMPLETED = "layer.completed"
    QUALITY_ISSUE_DETECTED = "quality.issue_detected"
    # Beyond the seed: a new organization finished onboarding (org, key, pipelines, schedules, backfill).
    ORGANIZATION_ONBOARDED = "organization.onboarded"


CLOUDEVENT_SOURCE = "etl-orchestrator"
