"""Errors of the event plumbing: the broker, the outbox database, webhook receivers.

Each belongs to the project's taxonomy (``domain/errors.py``): *unavailable* errors are transient
(wait and try again, nothing is lost: events stay in the outbox or the stream), *rejected* ones are
terminal for the one message concerned.
"""

from __future__ import annotations

from etl_orchestrator.domain.errors import DataError, NetworkError


class BrokerUnavailable(NetworkError):
    """NATS cannot be reached or did not answer in time; the whole batch waits for it."""


class BrokerRejected(DataError):
    """NATS refused this one message (too large, bad subject, JetStream API error)."""


class OutboxUnavailable(NetworkError):
    """PostgreSQL cannot be reached, so the outbox can be neither read nor marked."""
