"""Prometheus metrics of the worker process: Temporal's own and ours, on one ``/metrics`` endpoint.

Our metrics are recorded through the Temporal runtime's meter (``Runtime.metric_meter``), so a
worker is one scrape target that serves ``temporal_*`` (task slots, latencies, sticky cache, …)
and ``etl_*`` side by side, with the same global tags. ``worker_runtime(settings)`` builds that
runtime (pass it to ``Client.connect(..., runtime=...)``) and routes the functions below into it.
Until then — in the API process, in plain unit tests — they record into Temporal's no-op meter,
so callers never need to ask whether metrics are on.

Conventions: names start with ``etl_``, counters end in ``_total``, durations are seconds, and
labels stay low-cardinality (layer, status, reason; ``pipeline_id`` only where it is the point).
The functions are safe to call from any thread (activities record from their thread pool).
"""

from __future__ import annotations

import functools
from uuid import UUID

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from etl_orchestrator.config import Settings

GLOBAL_TAGS = {"service": "etl-orchestrator"}
LAYER_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
EXECUTION_DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600]
HISTOGRAM_BUCKETS = {
    "etl_layer_duration_seconds": LAYER_DURATION_BUCKETS,
    "etl_execution_duration_seconds": EXECUTION_DURATION_BUCKETS,
}


class _Instruments:
    """Every custom instrument, created once per meter."""

    def __init__(self, meter: MetricMeter) -> None:
        self.layer_records = meter.create_counter(
            "etl_layer_records_total", "Rows a layer wrote (bronze: fetched, silver: valid, gold: loaded).", "rows")
        self.quarantined_records = meter.create_counter(
            "etl_quarantined_records_total", "Rows Silver rejected into the quarantine table.", "rows")
        self.layer_duration = meter.create_histogram_float(
            "etl_layer_duration_seconds", "Duration of one layer for one partition.", "s")
        self.executions = meter.create_counter("etl_executions_total", "Executions that ended, by final status.")
        self.execution_duration = meter.create_histogram_float(
            "etl_execution_duration_seconds", "Duration of an execution from start to its final status.", "s")
        self.quality_score = meter.create_gauge_float(
            "etl_quality_score", "Latest data quality score of a pipeline (0-100: valid / total rows).")
        self.outbox_pending = meter.create_gauge("etl_outbox_pending", "Events written but not yet published.")
        self.outbox_oldest_age = meter.create_gauge_float(
            "etl_outbox_oldest_age_seconds", "Age of the oldest unpublished event (0 when none): the relay's lag.")
        self.outbox_published = meter.create_counter(
            "etl_outbox_published_total", "Events the relay published, by whether the broker had them already.")
        self.outbox_failures = meter.create_counter(
            "etl_outbox_publish_failures_total", "Publish attempts that failed (the event stays in the outbox).")
        self.schedule_skips = meter.create_counter(
            "etl_schedule_skips_total", "Scheduled runs that were skipped, by reason.")
        self.webhook_deliveries = meter.create_counter(
            "etl_webhook_deliveries_total", "Webhook delivery attempts, by outcome.")


_instruments = _Instruments(MetricMeter.noop)


def install_meter(meter: MetricMeter) -> None:
    """Record every metric of this module into ``meter`` from now on."""
    global _instruments
    _instruments = _Instruments(meter)


def worker_runtime(settings: Settings) -> Runtime:
    """The Temporal runtime of a worker, serving Prometheus on ``api.host:dev.worker_metrics_port``.

    Port 0 turns the exporter off (tests start many processes). The runtime is made once per
    address per process — a second exporter could not bind the port — and our metrics are routed into it.
    """
    port = settings.dev.worker_metrics_port
    return _runtime_for(f"{settings.api.host}:{port}" if port else None)


@functools.lru_cache(maxsize=4)
def _runtime_for(bind_address: str | None) -> Runtime:
    prometheus = None
    if bind_address is not None:
        prometheus = PrometheusConfig(bind_address=bind_address, durations_as_seconds=True,
                                      histogram_bucket_overrides=HISTOGRAM_BUCKETS)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus, global_tags=GLOBAL_TAGS))
    install_meter(runtime.metric_meter)
    return runtime


# ------------------------------------------------------------------------------------------ recording


def record_layer(layer: str, records: int, duration_s: float, quarantined: int = 0) -> None:
    """One layer finished for one partition: rows it wrote, how long it took, rows it quarantined."""
    labels = {"layer": layer}
    _instruments.layer_records.add(max(0, int(records)), labels)
    if quarantined:
        _instruments.quarantined_records.add(int(quarantined), labels)
    _instruments.layer_duration.record(max(0.0, duration_s), labels)


def record_quality_score(pipeline_id: UUID | str, score: float) -> None:
    _instruments.quality_score.set(float(score), {"pipeline_id": str(pipeline_id)})


def record_execution(status: str, duration_s: float) -> None:
    """An execution reached its final status (completed, failed, cancelled)."""
    labels = {"status": status}
    _instruments.executions.add(1, labels)
    _instruments.execution_duration.record(max(0.0, duration_s), labels)


def record_schedule_skip(reason: str) -> None:
    """A scheduled run did not start (e.g. ``overlap``, ``catchup_window``, ``paused``)."""
    _instruments.schedule_skips.add(1, {"reason": reason})


def observe_outbox(pending: int, oldest_age_s: float) -> None:
    _instruments.outbox_pending.set(max(0, int(pending)))
    _instruments.outbox_oldest_age.set(max(0.0, oldest_age_s))


def record_outbox_published(published: int, duplicates: int = 0) -> None:
    if published - duplicates > 0:
        _instruments.outbox_published.add(published - duplicates, {"duplicate": "false"})
    if duplicates > 0:
        _instruments.outbox_published.add(duplicates, {"duplicate": "true"})


def record_outbox_failure() -> None:
    _instruments.outbox_failures.add(1)


def record_webhook_delivery(outcome: str) -> None:
    """``delivered``, ``retrying`` (a retry is scheduled) or ``failed`` (given up)."""
    _instruments.webhook_deliveries.add(1, {"outcome": outcome})
