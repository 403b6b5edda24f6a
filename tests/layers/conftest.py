"""Fixtures of the layer tests: a fresh lake per test, partitions, and a gold-ready database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from etl_orchestrator.layers.bronze import BronzeResult, land_to_bronze

REPORT_DATE = date(2026, 1, 16)
INGESTED_AT = datetime(2026, 1, 17, 6, 0, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def partition() -> PartitionRef:
    return PartitionRef(org_id=7, pipeline_id=uuid.uuid4(), date=REPORT_DATE)


LandFile = Callable[..., BronzeResult]


@pytest.fixture
def land(lake: Lake, partition: PartitionRef, tmp_path: Path) -> LandFile:
    """Write ``content`` as a landing file and land it in Bronze (defaults: DV360, this test's partition)."""

    def land_file(content: bytes, *, source_format: str = "dv360", target: PartitionRef | None = None,
                  ingested_at: datetime = INGESTED_AT, name: str = "report.csv") -> BronzeResult:
        path = tmp_path / f"{uuid.uuid4().hex}-{name}"
        path.write_bytes(content)
        return land_to_bronze(lake, target or partition, execution_id=uuid.uuid4(), source_format=source_format,
                              raw_path=path, ingested_at=ingested_at)

    return land_file


@pytest.fixture
def gold_db(database_url: str) -> Iterator[str]:
    """The session database, with this test's gold rows cleared afterwards."""
    yield database_url
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("TRUNCATE gold.campaign_daily, gold.budget_segments, gold.pacing_metrics")
