"""The Trade Desk connector against the sandbox's MyReports API."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl_orchestrator.connectors import Connector, open_connector
from etl_orchestrator.domain.errors import DataError, RateLimitError, SourceAuthError
from tests.sandbox.scripting import SandboxScope

DAY = datetime.now(UTC).date() - timedelta(days=20)
# The header line as DOMAIN.md lists it (kept apart from the sandbox's own list on purpose).
TTD_HEADER_LINE = (
    "Date,Advertiser ID,Campaign ID,Campaign,Ad Group ID,Ad Group,Advertiser Currency Code,"
    "Impressions,Clicks,Advertiser Cost (Adv Currency)"
)


def ttd_connector(
    scope: SandboxScope, advertiser: dict[str, Any], **options: Any
) -> AbstractAsyncContextManager[Connector]:
    return open_connector(
        "ttd",
        {
            "base_url": f"{scope.url}/ttd",
            "token": scope.token,
            "advertiser_ids": [advertiser["ttdAdvertiserId"]],
            **options,
        },
    )


@pytest.fixture
async def ttd(scope: SandboxScope, small_advertiser: dict[str, Any]) -> AsyncIterator[Connector]:
    async with ttd_connector(scope, small_advertiser) as connector:
        yield connector


async def test_report_lands_in_myreports_format(
    ttd: Connector, tmp_path: Path, small_advertiser: dict[str, Any]
) -> None:
    await ttd.check_credentials()
    handle = await ttd.request_report(DAY)
    assert handle.done and handle.query_id and handle.report_id
    result = await ttd.download(handle, tmp_path / "ttd.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "ttd.csv").read_text())))
    assert (tmp_path / "ttd.csv").read_text().splitlines()[0] == TTD_HEADER_LINE
    assert len(rows) == 1 + small_advertiser["rowsPerDay"]
    assert {row[1] for row in rows[1:]} == {small_advertiser["ttdAdvertiserId"]}
    assert {row[6] for row in rows[1:]} == {small_advertiser["currencyCode"]}
    assert all(row[0] == DAY.isoformat() and row[7].isdigit() and "." in row[9] for row in rows[1:])
    assert result.bytes == (tmp_path / "ttd.csv").stat().st_size
    assert await ttd.insertion_orders() == []


async def test_international_locale_writes_decimal_commas_and_day_first_dates(
    scope: SandboxScope, small_advertiser: dict[str, Any], tmp_path: Path
) -> None:
    async with ttd_connector(
        scope, small_advertiser, date_format="International", numeric_format="International"
    ) as connector:
        await connector.download(await connector.request_report(DAY), tmp_path / "ttd.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "ttd.csv").read_text())))[1:]
    assert all(row[0] == DAY.strftime("%d/%m/%Y") for row in rows)
    assert all("," in row[9] and "." not in row[9] for row in rows)


async def test_execution_lifecycle_and_faults(ttd: Connector, scope: SandboxScope) -> None:
    await scope.script(
        {"endpoint": "ttd_create_schedule", "status": 429, "retry_after_s": 3, "times": 1}, report_delay_s=0.5
    )
    with pytest.raises(RateLimitError) as caught:
        await ttd.request_report(DAY)
    assert caught.value.retry_after_s == 3.0
    handle = await ttd.request_report(DAY)
    assert handle.state == "QUEUED"
    while not handle.done:
        handle = await ttd.report_status(handle)
    assert handle.download_url


async def test_failed_execution_is_data_error_and_bad_token_is_auth_error(
    ttd: Connector, scope: SandboxScope, dsp_sandbox: Any
) -> None:
    await scope.script({"endpoint": "ttd_create_schedule", "fail_report": True, "times": 1})
    with pytest.raises(DataError, match="failed"):
        await ttd.request_report(DAY)
    async with open_connector("ttd", {"base_url": f"{dsp_sandbox.url}/ttd", "token": "nope"}) as intruder:
        with pytest.raises(SourceAuthError):
            await intruder.check_credentials()
