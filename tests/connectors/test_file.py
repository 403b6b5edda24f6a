"""The file source on a directory of real-format exports (tests/cases/exports) and on patterns."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from etl_orchestrator.connectors import Connector, open_connector
from etl_orchestrator.connectors.landing import partial_path
from etl_orchestrator.domain.errors import DataError

EXPORTS = Path(__file__).parents[1] / "cases" / "exports"


@pytest.fixture
async def exports() -> AsyncIterator[Connector]:
    async with open_connector("file", {"path": str(EXPORTS)}) as connector:
        yield connector


@pytest.mark.parametrize(
    ("day", "name", "data_format"),
    [
        (date(2026, 1, 15), "dv360_2026-01-15.csv", "csv"),
        (date(2026, 1, 16), "ttd_myreports_20260116.csv", "csv"),
        (date(2026, 1, 17), "campaign_daily_2026_01_17.parquet", "parquet"),
        (date(2026, 1, 18), "campaign_daily-2026-01-18.jsonl", "jsonl"),
    ],
)
async def test_directory_export_of_a_date_lands_byte_for_byte(
    exports: Connector, tmp_path: Path, day: date, name: str, data_format: str
) -> None:
    await exports.check_credentials()
    handle = await exports.request_report(day)
    assert handle.done and handle.report_id == name and handle.extra["format"] == data_format
    assert await exports.report_status(handle) == handle
    result = await exports.download(handle, tmp_path / "landed")
    original = (EXPORTS / name).read_bytes()
    assert (tmp_path / "landed").read_bytes() == original
    assert result.bytes == len(original)


async def test_missing_and_ambiguous_dates_are_data_errors(exports: Connector, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="found none"):
        await exports.request_report(date(2026, 2, 1))
    for name in ("a_2026-01-15.csv", "b_20260115.csv"):
        shutil.copy(EXPORTS / "dv360_2026-01-15.csv", tmp_path / name)
    async with open_connector("file", {"path": str(tmp_path)}) as ambiguous:
        with pytest.raises(DataError, match=re.escape("a_2026-01-15.csv, b_20260115.csv")):
            await ambiguous.request_report(date(2026, 1, 15))


async def test_pattern_with_placeholders_and_file_uri(tmp_path: Path) -> None:
    target = tmp_path / "2026" / "01" / "export-20260115.csv"
    target.parent.mkdir(parents=True)
    shutil.copy(EXPORTS / "dv360_2026-01-15.csv", target)
    pattern = f"file://{tmp_path}/{{yyyy}}/{{mm}}/export-{{yyyymmdd}}.csv"
    async with open_connector("file", {"path": pattern}) as connector:
        await connector.check_credentials()
        handle = await connector.request_report(date(2026, 1, 15))
        await connector.download(handle, tmp_path / "landed.csv")
        with pytest.raises(DataError, match="does not exist"):
            await connector.request_report(date(2026, 1, 16))
    assert (tmp_path / "landed.csv").read_bytes() == target.read_bytes()


async def test_copy_resumes_from_a_partial_file(exports: Connector, tmp_path: Path) -> None:
    handle = await exports.request_report(date(2026, 1, 15))
    original = (EXPORTS / "dv360_2026-01-15.csv").read_bytes()
    dest = tmp_path / "landed.csv"
    partial_path(dest).write_bytes(original[:5000])
    result = await exports.download(handle, dest, resume_from=5000)
    assert result.resumed_from == 5000 and dest.read_bytes() == original and result.bytes == len(original)


async def test_missing_directory_fails_the_credential_check(tmp_path: Path) -> None:
    async with open_connector("file", {"path": str(tmp_path / "nowhere")}) as connector:
        with pytest.raises(DataError):
            await connector.check_credentials()


async def test_unknown_suffix_needs_an_explicit_format(tmp_path: Path) -> None:
    (tmp_path / "export_2026-01-15.xlsx").write_bytes(b"PK")
    async with open_connector("file", {"path": str(tmp_path)}) as connector:
        with pytest.raises(DataError, match="format"):
            await connector.request_report(date(2026, 1, 15))
