"""The embedded PostgreSQL the dev stack and the tests start: settings chosen for a server nobody replicates."""

from __future__ import annotations

import os

import psycopg
import pytest


def test_the_embedded_server_writes_only_the_wal_crash_recovery_needs(database_url):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("a server named by DATABASE_URL keeps its own settings")
    with psycopg.connect(database_url) as conn:
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings"
                                     " WHERE name IN ('wal_level', 'max_wal_senders')").fetchall())
    # At wal_level minimal PostgreSQL drops a closed WAL segment's cached pages (embedded.start_postgres).
    assert settings == {"wal_level": "minimal", "max_wal_senders": "0"}
