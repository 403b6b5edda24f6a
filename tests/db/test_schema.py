"""The migrated schema carries the seed's tables exactly (columns, defaults, indexes) plus ours."""

from __future__ import annotations

import psycopg
import pytest

SEED_EXECUTION_COLUMNS = {
    "id": ("uuid", "gen_random_uuid()"),
    "pipeline_id": ("uuid", None),
    "org_id": ("integer", None),
    "status": ("character varying", "'running'::character varying"),
    "layer": ("character varying", None),
    "config": ("jsonb", None),
    "result": ("jsonb", None),
    "error": ("text", None),
    "records_processed": ("bigint", None),
    "records_failed": ("bigint", None),
    "size_bytes": ("bigint", None),
    "duration_ms": ("integer", None),
    "started_at": ("timestamp without time zone", "now()"),
    "completed_at": ("timestamp without time zone", None),
}

SEED_QUALITY_COLUMNS = {
    "id": ("bigint", None),
    "pipeline_id": ("uuid", None),
    "org_id": ("integer", None),
    "execution_id": ("uuid", None),
    "layer": ("character varying", None),
    "metric_type": ("character varying", None),
    "count": ("integer", None),
    "severity": ("character varying", None),
    "details": ("jsonb", None),
    "timestamp": ("timestamp without time zone", "now()"),
}


def columns(conn: psycopg.Connection, table: str, schema: str = "public") -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT column_name, data_type, column_default FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s", (schema, table)).fetchall()
    return {name: (data_type, default) for name, data_type, default in rows}


def indexes(conn: psycopg.Connection, table: str) -> dict[str, str]:
    return dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)).fetchall())


@pytest.mark.parametrize(("table", "expected"), [("etl_executions", SEED_EXECUTION_COLUMNS),
                                                  ("data_quality_metrics", SEED_QUALITY_COLUMNS)])
def test_seed_tables_have_every_seed_column_with_its_type_and_default(database_url, table, expected):
    with psycopg.connect(database_url) as conn:
        actual = columns(conn, table)
    for name, (data_type, default) in expected.items():
        assert name in actual, f"{table}.{name} missing"
        assert actual[name][0] == data_type, f"{table}.{name} is {actual[name][0]}"
        if default is not None:
            assert actual[name][1] == default, f"{table}.{name} default is {actual[name][1]}"


def test_seed_indexes_exist(database_url):
    with psycopg.connect(database_url) as conn:
        executions = indexes(conn, "etl_executions")
        quality = indexes(conn, "data_quality_metrics")
    assert "(pipeline_id)" in executions["idx_executions_pipeline"]
    assert "(started_at)" in executions["idx_executions_started"]
    assert "(pipeline_id)" in quality["idx_quality_pipeline"]


def test_seed_foreign_keys_point_where_the_seed_says(database_url):
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("""
            SELECT tc.table_name, kcu.column_name, ccu.table_name
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name
            JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name
            WHERE tc.constraint_type = 'FOREIGN KEY'
              AND tc.table_name IN ('etl_executions', 'data_quality_metrics')""").fetchall()
    references = {(table, column): target for table, column, target in rows}
    assert references[("etl_executions", "pipeline_id")] == "pipelines"
    assert references[("etl_executions", "org_id")] == "organizations"
    assert references[("data_quality_metrics", "execution_id")] == "etl_executions"
    assert references[("data_quality_metrics", "org_id")] == "organizations"


def test_every_table_of_the_design_exists(database_url):
    with psycopg.connect(database_url) as conn:
        tables = {(schema, name) for schema, name in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'gold')").fetchall()}
    for name in ("organizations", "pipelines", "etl_executions", "data_quality_metrics", "execution_logs",
                 "event_outbox", "api_keys", "partitions"):
        assert ("public", name) in tables, name
    for name in ("campaign_daily", "pacing_metrics"):
        assert ("gold", name) in tables, name


def test_one_live_execution_per_workflow_id(database_url):
    with psycopg.connect(database_url) as conn:
        org = conn.execute("INSERT INTO organizations (name, slug) VALUES ('Schema Org', 'schema-org') "
                           "RETURNING id").fetchone()[0]
        pipeline = conn.execute("INSERT INTO pipelines (org_id, name, source_kind) VALUES (%s, 'p', 'dv360') "
                                "RETURNING id", (org,)).fetchone()[0]
        insert = ("INSERT INTO etl_executions (pipeline_id, org_id, status, workflow_id) "
                  "VALUES (%s, %s, %s, 'etl:same')")
        conn.execute(insert, (pipeline, org, "completed"))
        conn.execute(insert, (pipeline, org, "running"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (pipeline, org, "scheduled"))
        conn.rollback()
