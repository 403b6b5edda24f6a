"""Events: the transactional outbox, its relay to NATS JetStream, and webhooks.

- ``outbox``: ``enqueue_event`` writes a CloudEvent in the caller's transaction (its insert trigger NOTIFYs the relay).
- ``relay``: ``OutboxRelay`` / ``run_relay`` publish committed events to stream ``ETL_EVENTS``,
  subjects ``etl.events.<type>``, at least once, in order per execution, several relays at once.
- ``webhooks``: ``WebhookDispatcher`` / ``run_webhooks`` POST each pipeline's events to its
  ``webhook_url`` (signed, retried), driven by a durable JetStream consumer; ``delivery_log`` keeps every attempt.
- ``service``: ``run_event_services`` runs relay and dispatcher in a worker process, restarting them on failure.
- ``tail``: ``etl-orchestrator events tail``.
- ``broker``: the NATS connection and the one boundary where nats-py errors become ``events.errors``.

Kept light on purpose: ``db/execution_store`` imports ``outbox``, so nothing here is imported eagerly.
"""
