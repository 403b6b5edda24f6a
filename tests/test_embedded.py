"""The embedded PostgreSQL the dev stack and the tests start: settings chosen for a server nobody replicates."""

from __future__ import annotations

from pathlib import Path

import psycopg

from etl_orchestrator.embedded import free_port, start_postgres


def test_the_embedded_server_writes_only_the_wal_crash_recovery_needs(tmp_path: Path) -> None:
    # Its own server: the session's database may be one named by DATABASE_URL, with its own settings.
    process, url = start_postgres(tmp_path / "pgdata", port=free_port(), fast_unsafe=True)
    try:
        with psycopg.connect(url) as conn:
            settings = dict(conn.execute("SELECT name, setting FROM pg_settings"
                                         " WHERE name IN ('wal_level', 'max_wal_senders')").fetchall())
    finally:
        process.stop(8)
    # At wal_level minimal PostgreSQL drops a closed WAL segment's cached pages (embedded.start_postgres).
    assert settings == {"wal_level": "minimal", "max_wal_senders": "0"}
