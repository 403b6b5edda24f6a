"""Alembic environment: migrations run online against the URL set by ``db/migrate.py``."""

from alembic import context
from sqlalchemy import create_engine, pool

from etl_orchestrator.db.models import metadata

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, include_schemas=True,
                          version_table_schema="public")
        with context.begin_transaction():
            # Several processes (API replicas, workers, the dev stack) may migrate at once.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(72430001)")
            context.run_migrations()
    engine.dispose()


run_migrations_online()
