"""The settings tree: one YAML file in the seed's shape, overridden by environment variables.

Precedence (highest first): environment variables, the YAML file (``--config`` or
``config/etl.yaml``), the defaults written here. Well-known variables: ``DATABASE_URL``,
``TEMPORAL_ADDRESS``, ``NATS_URL``, ``LAKE_URI``. Any other key: ``ETL_<SECTION>__<KEY>``, e.g.
``ETL_API__PORT=8010`` or ``ETL_WORKERS__MAX_CONCURRENT_ACTIVITIES=4`` (sections of the seed's
``etl:`` block are addressed without the ``etl`` prefix). Validation errors name the key.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from etl_orchestrator.sandbox.settings import SandboxSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


# Built once: building a TypeAdapter generates its schema (about a millisecond), and every Temporal
# payload holding RunOptions parses durations through here.
_TIMEDELTA = TypeAdapter(timedelta)


def parse_duration(value: Any) -> timedelta:
    """Accept Go-style durations as the seed writes them (``1s``, ``30m``), numbers (seconds) or timedeltas."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        if value.startswith(("P", "-P")):
            # ISO 8601 ("PT1S"): how pydantic serialises a timedelta, e.g. RunOptions in a Temporal payload.
            return _TIMEDELTA.validate_python(value)
    raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 1s, 30m, 2h)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemporalSettings(_Section):
    address: str = Field("127.0.0.1:7233", description="host:port of the Temporal frontend.")
    namespace: str = Field("platform-etl", description="Temporal namespace of every workflow.")
    task_queue: str = Field("etl-workers", description="Task queue of ETL and ingestion work.")
    backfill_task_queue: str = Field(
        "etl-backfill", description="Task queue of backfill partitions, so backfills never delay schedules.")


class WorkerSettings(_Section):
    max_concurrent_activities: int = Field(10, ge=1, le=1000, description="Activities one worker runs at once.")
    activity_timeout: Duration = Field(timedelta(minutes=30), description="start-to-close timeout of an activity.")
    heartbeat_timeout: Duration = Field(timedelta(seconds=30), description="Heartbeat timeout of long activities.")
    short_activity_timeout: Duration = Field(
        timedelta(seconds=60), description="start-to-close timeout of bookkeeping activities (status writes, report requests).")
    partition_parallelism: int = Field(4, ge=1, le=64, description="Partitions of one execution run at once.")
    cpu_threads: int = Field(0, ge=0, le=256, description="Threads for CPU-heavy activities (0: number of cores).")


class ClassRetry(_Section):
    max_retries: int = Field(ge=0, le=100, description="Retries after the first attempt for this failure class.")
    backoff: str = Field("exponential", pattern="^(exponential|fixed|none)$", description="Backoff shape.")
    default_wait: Duration = Field(timedelta(seconds=30), description="Fixed wait when the source names no reset.")


class RetrySettings(_Section):
    """The seed's retry block, plus one entry per failure class of the seed's retry table."""

    max_attempts: int = Field(5, ge=1, le=100, description="Retries of a network error (seed: 5).")
    initial_interval: Duration = Field(timedelta(seconds=1), description="First backoff interval.")
    max_interval: Duration = Field(timedelta(minutes=1), description="Backoff ceiling.")
    backoff_coefficient: float = Field(2.0, ge=1.0, le=10.0, description="Growth factor of exponential backoff.")
    rate_limit: ClassRetry = Field(
        ClassRetry(max_retries=3, backoff="fixed", default_wait=timedelta(seconds=30)),
        description="Rate limits: wait until the source's reset time (or default_wait).")
    timeout: ClassRetry = Field(ClassRetry(max_retries=3, backoff="exponential"), description="Timeouts.")
    data: ClassRetry = Field(ClassRetry(max_retries=0, backoff="none"), description="Data errors fail fast.")

    @model_validator(mode="before")
    @classmethod
    def _merge_class_defaults(cls, data: Any) -> Any:
        """A partial class block (``rate_limit: {default_wait: 2s}``) keeps that class's other defaults."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name in ("rate_limit", "timeout", "data"):
            given = merged.get(name)
            if isinstance(given, dict):
                default = cls.model_fields[name].default.model_dump()
                merged[name] = {**default, **given}
        return merged


class IngestionSettings(_Section):
    poll_initial: Duration = Field(timedelta(seconds=5), description="First wait between report status polls.")
    poll_max: Duration = Field(timedelta(minutes=5), description="Longest wait between report status polls.")
    report_timeout: Duration = Field(timedelta(hours=2), description="Give up on a report not DONE by then.")
    restatement_days: int = Field(7, ge=0, le=60, description="Trailing days a scheduled run re-pulls.")
    max_range_days: int = Field(400, ge=1, le=5000, description="Longest date range one trigger accepts.")


class EtlSection(_Section):
    temporal: TemporalSettings = TemporalSettings()
    workers: WorkerSettings = WorkerSettings()
    retry: RetrySettings = RetrySettings()
    ingestion: IngestionSettings = IngestionSettings()


class DatabaseSettings(_Section):
    url: str = Field("postgresql://postgres@127.0.0.1:55432/etl", description="PostgreSQL URL.")
    pool_size: int = Field(10, ge=1, le=200, description="Connections per process.")

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg (v3) driver, which serves both sync and async code."""
        url = self.url
        for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        raise ValueError(f"database.url must be a postgresql:// URL, got {url!r}")

    @property
    def libpq_url(self) -> str:
        """The URL as libpq (psycopg.connect) takes it."""
        return self.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


class NatsSettings(_Section):
    url: str = Field("nats://127.0.0.1:54222", description="NATS server URL (JetStream enabled).")
    stream: str = Field("ETL_EVENTS", description="JetStream stream of etl.events.")
    subject_prefix: str = Field("etl.events", description="Subjects are <prefix>.<event type>.")


class LakeSettings(_Section):
    uri: str = Field("./.data/lake", description="Root of the Delta lake: a path or s3:// URI.")


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="Interface the REST and gRPC servers listen on.")
    port: int = Field(8004, ge=0, le=65535, description="REST port (seed: 8004).")
    grpc_port: int = Field(9004, ge=0, le=65535, description="gRPC port (seed: 9004).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    page_size: int = Field(50, ge=1, le=1000, description="Default page size of listings.")
    processes: int = Field(1, ge=1, le=64, description=(
        "API processes serving the same two ports (SO_REUSEPORT; the kernel spreads connections). "
        "Each has its own connection pools, feed and workflow starter, like replicas on other hosts."))


class DevSettings(_Section):
    """Ports and places of the embedded servers that ``etl-orchestrator dev`` starts."""

    data_dir: str = Field("./.data", description="Where the dev stack keeps its data.")
    postgres_port: int = Field(55432, ge=1, le=65535, description="Embedded PostgreSQL (not 5432).")
    nats_port: int = Field(54222, ge=1, le=65535, description="Embedded NATS (not 4222).")
    temporal_port: int = Field(7233, ge=1, le=65535, description="Temporal dev server frontend.")
    temporal_ui_port: int = Field(8233, ge=1, le=65535, description="Temporal Web UI.")
    temporal_http_port: int = Field(7243, ge=1, le=65535, description="Temporal HTTP API.")
    temporal_metrics_port: int = Field(7244, ge=1, le=65535, description="Temporal server metrics.")
    worker_metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus port of the worker.")


class Settings(_Section):
    etl: EtlSection = EtlSection()
    database: DatabaseSettings = DatabaseSettings()
    nats: NatsSettings = NatsSettings()
    lake: LakeSettings = LakeSettings()
    api: ApiSettings = ApiSettings()
    sandbox: SandboxSettings = SandboxSettings()
    dev: DevSettings = DevSettings()

    @model_validator(mode="after")
    def _ports_distinct(self) -> Settings:
        if self.api.port and self.api.port == self.api.grpc_port:
            raise ValueError("api.grpc_port must differ from api.port")
        return self


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


DEFAULT_CONFIG_PATH = Path("config/etl.yaml")
_WELL_KNOWN_ENV = {
    "DATABASE_URL": ("database", "url"),
    "TEMPORAL_ADDRESS": ("etl", "temporal", "address"),
    "NATS_URL": ("nats", "url"),
    "LAKE_URI": ("lake", "uri"),
}
_ETL_SECTIONS = set(EtlSection.model_fields)


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _env_overrides(environ: dict[str, str]) -> list[tuple[tuple[str, ...], str]]:
    overrides: list[tuple[tuple[str, ...], str]] = []
    for name, value in environ.items():
        if name in _WELL_KNOWN_ENV:
            overrides.append((_WELL_KNOWN_ENV[name], value))
        elif name.startswith("ETL_") and "__" in name:
            parts = tuple(part.lower() for part in name[4:].split("__"))
            if parts[0] in _ETL_SECTIONS:
                parts = ("etl", *parts)
            overrides.append((parts, value))
    return overrides


def _format_error(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"{key}: {item['msg']}")
    return f"invalid configuration ({source}): " + "; ".join(problems)


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the YAML file (if any), apply environment overrides, validate. Raise ConfigError naming the key."""
    environ = dict(os.environ if environ is None else environ)
    if path is None and environ.get("ETL_CONFIG"):
        path = environ["ETL_CONFIG"]
    explicit = path is not None
    config_path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    tree: dict[str, Any] = {}
    if config_path.exists():
        try:
            loaded = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid configuration ({config_path}): not YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"invalid configuration ({config_path}): the top level must be a mapping")
        tree = loaded
    elif explicit:
        raise ConfigError(f"configuration file not found: {config_path}")
    for key_path, value in _env_overrides(environ):
        _set_path(tree, key_path, value)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, str(config_path) if config_path.exists() else "environment")) from exc
