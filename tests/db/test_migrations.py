"""The frozen migrations build exactly the schema the models describe, and undo it."""

from __future__ import annotations

import uuid

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from etl_orchestrator.db.engine import to_sqlalchemy_url
from etl_orchestrator.db.migrate import current_revision, upgrade
from etl_orchestrator.db.models import metadata
from etl_orchestrator.embedded import create_database


def test_the_migrated_schema_matches_the_models(database_url):
    engine = create_engine(to_sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_schemas": True,
                                                             "compare_server_default": False})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "models changed without a migration: " + repr(differences)


def test_migrations_upgrade_downgrade_and_upgrade_again(database_url):
    from alembic import command

    from etl_orchestrator.db.migrate import alembic_config

    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    scratch = f"etl_migrations_{uuid.uuid4().hex[:8]}"
    create_database(admin, scratch)
    url = database_url.rsplit("/", 1)[0] + "/" + scratch
    try:
        upgrade(url)
        assert current_revision(url) == "0003"
        command.downgrade(alembic_config(url), "base")
        assert current_revision(url) is None
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('public.etl_executions')").fetchone() == (None,)
        upgrade(url)
        with psycopg.connect(url) as conn:
            conn.execute("SELECT id, status, result FROM etl_executions LIMIT 1")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
