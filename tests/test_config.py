"""Configuration: the seed's YAML shape, environment overrides, errors that name the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from etl_orchestrator.config import ConfigError, load_settings

SEED_YAML = """
etl:
  temporal:
    namespace: "platform-etl"
    task_queue: "etl-workers"
  workers:
    max_concurrent_activities: 10
    activity_timeout: 30m
  retry:
    max_attempts: 5
    initial_interval: 1s
    max_interval: 1m
    backoff_coefficient: 2
"""


def test_the_seeds_yaml_loads_as_written(tmp_path):
    path = tmp_path / "etl.yaml"
    path.write_text(SEED_YAML)
    settings = load_settings(path, environ={})
    assert settings.etl.temporal.namespace == "platform-etl"
    assert settings.etl.temporal.task_queue == "etl-workers"
    assert settings.etl.workers.max_concurrent_activities == 10
    assert settings.etl.workers.activity_timeout == timedelta(minutes=30)
    assert settings.etl.retry.initial_interval == timedelta(seconds=1)
    assert settings.etl.retry.max_interval == timedelta(minutes=1)
    assert settings.etl.retry.backoff_coefficient == 2


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "etl.yaml"
    path.write_text(SEED_YAML)
    settings = load_settings(path, environ={
        "DATABASE_URL": "postgresql://u@db:5432/etl", "TEMPORAL_ADDRESS": "temporal:7233",
        "NATS_URL": "nats://nats:4222", "LAKE_URI": "s3://bucket/lake",
        "ETL_WORKERS__MAX_CONCURRENT_ACTIVITIES": "3", "ETL_API__PORT": "8100",
    })
    assert settings.database.url == "postgresql://u@db:5432/etl"
    assert settings.etl.temporal.address == "temporal:7233"
    assert settings.nats.url == "nats://nats:4222"
    assert settings.lake.uri == "s3://bucket/lake"
    assert settings.etl.workers.max_concurrent_activities == 3
    assert settings.api.port == 8100


def test_run_options_carry_the_workers_timeouts():
    from datetime import timedelta

    from etl_orchestrator.service.executions import run_options

    options = run_options(load_settings(environ={"ETL_WORKERS__SHORT_ACTIVITY_TIMEOUT": "90s",
                                                 "ETL_WORKERS__ACTIVITY_TIMEOUT": "45m"}))
    assert options.short_timeout == timedelta(seconds=90)
    assert options.activity_timeout == timedelta(minutes=45)
    assert run_options(load_settings(environ={})).short_timeout == timedelta(seconds=60)
    # As a Temporal payload carries them: pydantic's JSON writes timedeltas as ISO 8601 ("PT1M30S").
    assert type(options).model_validate_json(options.model_dump_json()) == options


@pytest.mark.parametrize(("yaml_text", "key"), [
    ("etl:\n  workers:\n    activity_timeout: soon\n", "etl.workers.activity_timeout"),
    ("etl:\n  workers:\n    max_concurrent_activities: 0\n", "etl.workers.max_concurrent_activities"),
    ("etl:\n  retry:\n    backoff_coefficient: 0.5\n", "etl.retry.backoff_coefficient"),
    ("api:\n  prot: 8004\n", "api.prot"),
    ("api:\n  port: 9004\n  grpc_port: 9004\n", "api.grpc_port"),
])
def test_invalid_configuration_names_the_key(tmp_path, yaml_text, key):
    path = tmp_path / "etl.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(path, environ={})


def test_an_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_database_url_gets_the_psycopg_driver():
    settings = load_settings(environ={"DATABASE_URL": "postgres://a@b:1/c"})
    assert settings.database.sqlalchemy_url == "postgresql+psycopg://a@b:1/c"
    assert settings.database.libpq_url == "postgresql://a@b:1/c"
