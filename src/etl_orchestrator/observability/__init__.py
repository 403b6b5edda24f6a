"""Observability: Prometheus metrics, structured logs and OpenTelemetry traces of every process.

- ``metrics``: the worker's metrics (Temporal's and ours, one ``/metrics`` endpoint) and the
  functions activities call to record them.
- ``http``: the API's ``/metrics`` route and its request metrics and server spans.
- ``logging``: structlog JSON logs carrying org, pipeline, execution and layer ids.
- ``tracing``: OpenTelemetry across API → workflow → activities, exported over OTLP when configured.

Nothing here imports other project packages except ``config``, so any module may use it.
"""
