"""The DV360 connector against the sandbox over real HTTP: lifecycle, landing, budgets, faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl_orchestrator.connectors import Connector, ReportHandle, open_connector
from etl_orchestrator.connectors.landing import partial_path
from etl_orchestrator.domain.errors import (
    DataError,
    NetworkError,
    RateLimitError,
    SourceAuthError,
    SourceTimeoutError,
)
from tests.sandbox.scripting import SandboxScope

TODAY = datetime.now(UTC).date()
OLD_DATE = TODAY - timedelta(days=40)
RECENT_DATE = TODAY - timedelta(days=2)


async def land(connector: Connector, report_date: date, dest: Path) -> tuple[ReportHandle, bytes]:
    handle = await connector.request_report(report_date)
    result = await connector.download(handle, dest)
    content = dest.read_bytes()
    assert result.bytes == len(content) == dest.stat().st_size
    return handle, content


async def test_fast_report_is_done_after_request_and_lands_verified(
    dv360: Connector, tmp_path: Path, small_advertiser: dict[str, Any]
) -> None:
    handle = await dv360.request_report(OLD_DATE)
    assert handle.state == "DONE" and handle.download_url and handle.query_id and handle.report_id
    progress: list[int] = []
    result = await dv360.download(handle, tmp_path / "report.csv", on_progress=progress.append)

    content = (tmp_path / "report.csv").read_bytes()
    assert result.bytes == len(content) and progress[-1] == len(content)
    lines = content.decode().splitlines()
    assert lines[0].startswith("Date,Advertiser ID,Advertiser,Advertiser Currency,Campaign ID,Campaign,")
    assert len(lines) > small_advertiser["rowsPerDay"]  # data rows + totals + blank + footer
    assert lines[1].startswith(f"{OLD_DATE:%Y/%m/%d},{small_advertiser['advertiserId']},")
    assert not partial_path(tmp_path / "report.csv").exists()


async def test_report_moves_from_queued_through_running_to_done(
    dv360: Connector, scope: SandboxScope
) -> None:
    await scope.script(report_delay_s=1.0)
    handle = await dv360.request_report(OLD_DATE)
    seen = [handle.state]
    while handle.state != "DONE":
        await asyncio.sleep(0.1)
        handle = await dv360.report_status(handle)
        seen.append(handle.state)
    assert seen[0] == "QUEUED" and "RUNNING" in seen
    assert seen.index("RUNNING") > seen.index("QUEUED") and handle.download_url


async def test_same_old_date_twice_gives_identical_bytes(dv360: Connector, tmp_path: Path) -> None:
    _, first = await land(dv360, OLD_DATE, tmp_path / "first.csv")
    _, second = await land(dv360, OLD_DATE, tmp_path / "second.csv")
    assert first == second


async def test_recent_date_is_restated_on_every_pull(dv360: Connector, tmp_path: Path) -> None:
    _, first = await land(dv360, RECENT_DATE, tmp_path / "first.csv")
    _, second = await land(dv360, RECENT_DATE, tmp_path / "second.csv")
    first_rows, second_rows = first.decode().splitlines(), second.decode().splitlines()
    assert len(first_rows) == len(second_rows) and first_rows[0] == second_rows[0]
    assert first_rows[1:-8] != second_rows[1:-8]  # the numbers moved …
    assert [row.split(",")[:9] for row in first_rows[1:5]] == [row.split(",")[:9] for row in second_rows[1:5]]


async def test_same_partition_downloaded_twice_lands_one_file(dv360: Connector, tmp_path: Path) -> None:
    dest = tmp_path / "partition" / "report.csv"
    await land(dv360, OLD_DATE, dest)
    await land(dv360, OLD_DATE, dest)
    assert [path.name for path in dest.parent.iterdir()] == ["report.csv"]


async def test_insertion_orders_parse_with_currency_and_budgets(
    dv360: Connector, small_advertiser: dict[str, Any]
) -> None:
    orders = await dv360.insertion_orders()
    assert len(orders) == small_advertiser["insertionOrders"]
    assert {order.currency for order in orders} == {small_advertiser["currencyCode"]}
    assert all(order.segments and all(segment.amount > 0 for segment in order.segments) for order in orders)
    assert all(order.segments[0].start_date <= order.segments[-1].end_date for order in orders)


async def test_insertion_orders_of_every_advertiser_when_none_configured(
    scope: SandboxScope, partner: dict[str, Any]
) -> None:
    async with open_connector("dv360", {"base_url": scope.url, "token": scope.token}) as connector:
        orders = await connector.insertion_orders()
    assert len(orders) == sum(adv["insertionOrders"] for adv in partner["advertisers"])
    assert {order.budget_unit for order in orders} == {"BUDGET_UNIT_CURRENCY", "BUDGET_UNIT_IMPRESSIONS"}
    assert {order.pacing_type for order in orders} == {
        "PACING_TYPE_EVEN",
        "PACING_TYPE_AHEAD",
        "PACING_TYPE_ASAP",
    }
    daily = [order for order in orders if order.pacing_period == "PACING_PERIOD_DAILY"]
    assert daily and all(order.daily_max and order.daily_max > 0 for order in daily)
    impressions = next(order for order in orders if order.budget_unit == "BUDGET_UNIT_IMPRESSIONS")
    assert impressions.segments[0].amount == impressions.segments[0].amount.to_integral_value()
    starts = {order.segments[0].start_date > TODAY for order in orders}
    ends = {order.segments[-1].end_date < TODAY for order in orders}
    assert starts == {True, False} and ends == {True, False}  # flights before, around and after today


async def test_wrong_token_is_source_auth_error(dsp_sandbox: Any) -> None:
    async with open_connector("dv360", {"base_url": dsp_sandbox.url, "token": "not-the-token"}) as connector:
        with pytest.raises(SourceAuthError) as caught:
            await connector.check_credentials()
    assert caught.value.context["status"] == 401 and caught.value.terminal


@pytest.mark.parametrize(
    ("rule", "error", "retry_after_s"),
    [
        ({"status": 429, "retry_after_s": 7}, RateLimitError, 7.0),
        ({"status": 429}, RateLimitError, None),
        ({"status": 500}, NetworkError, None),
        ({"status": 503}, NetworkError, None),
        ({"status": 504}, SourceTimeoutError, None),
        ({"status": 400}, DataError, None),
        ({"status": 404}, DataError, None),
        ({"status": 403}, SourceAuthError, None),
        ({"malformed_json": True}, DataError, None),
    ],
)
async def test_scripted_api_faults_raise_their_error_class(
    dv360: Connector,
    scope: SandboxScope,
    rule: dict[str, Any],
    error: type[Exception],
    retry_after_s: float | None,
) -> None:
    await scope.script({"endpoint": "create_query", "times": 1, **rule})
    with pytest.raises(error) as caught:
        await dv360.request_report(OLD_DATE)
    assert getattr(caught.value, "retry_after_s", None) == retry_after_s
    assert (await dv360.request_report(OLD_DATE)).done  # the rule is spent: the next request succeeds


async def test_failed_report_is_data_error(dv360: Connector, scope: SandboxScope) -> None:
    await scope.script({"endpoint": "run_query", "fail_report": True, "times": 1})
    with pytest.raises(DataError, match="FAILED"):
        await dv360.request_report(OLD_DATE)


async def test_slow_response_beyond_timeout_is_source_timeout_error(
    scope: SandboxScope, small_advertiser: dict[str, Any]
) -> None:
    await scope.script({"endpoint": "get_report", "delay_s": 2, "times": 1})
    async with open_connector("dv360", scope.dv360_config(small_advertiser, timeout_s=0.3)) as connector:
        with pytest.raises(SourceTimeoutError):
            await connector.request_report(OLD_DATE)


async def test_a_stalled_download_is_source_timeout_error_and_the_retry_lands_it(
    scope: SandboxScope, small_advertiser: dict[str, Any], tmp_path: Path
) -> None:
    await scope.script({"endpoint": "download", "delay_s": 2, "times": 1})
    async with open_connector("dv360", scope.dv360_config(small_advertiser, timeout_s=0.3)) as connector:
        handle = await connector.request_report(OLD_DATE)
        dest = tmp_path / "report.csv"
        with pytest.raises(SourceTimeoutError, match="download"):
            await connector.download(handle, dest)
        assert not dest.exists()
        result = await connector.download(handle, dest)  # the rule is spent
        assert dest.exists() and result.bytes == dest.stat().st_size > 0


async def test_truncated_download_raises_network_error_and_lands_nothing(
    dv360: Connector, scope: SandboxScope, tmp_path: Path
) -> None:
    await scope.script({"endpoint": "download", "truncate_fraction": 0.5, "times": 1})
    handle = await dv360.request_report(OLD_DATE)
    dest = tmp_path / "report.csv"
    with pytest.raises(NetworkError):
        await dv360.download(handle, dest)
    assert not dest.exists()
    kept = partial_path(dest).stat().st_size
    assert kept > 0

    result = await dv360.download(handle, dest, resume_from=kept)  # the retry resumes with Range
    assert result.resumed_from == kept and dest.exists() and not partial_path(dest).exists()
    _, clean = await land(dv360, OLD_DATE, tmp_path / "clean.csv")
    assert dest.read_bytes() == clean and result.bytes == len(clean)


async def test_resume_without_enough_partial_bytes_starts_over(dv360: Connector, tmp_path: Path) -> None:
    handle = await dv360.request_report(OLD_DATE)
    dest = tmp_path / "report.csv"
    partial_path(dest).write_bytes(b"stale")
    result = await dv360.download(handle, dest, resume_from=1_000)
    assert result.resumed_from == 0 and not dest.read_bytes().startswith(b"stale")


async def test_download_before_done_is_data_error(dv360: Connector, tmp_path: Path) -> None:
    handle = ReportHandle(source="dv360", report_date=OLD_DATE, query_id="1", report_id="2", state="RUNNING")
    with pytest.raises(DataError):
        await dv360.download(handle, tmp_path / "x.csv")


async def test_faults_of_one_scope_never_reach_another(
    dv360: Connector, scope: SandboxScope, dsp_sandbox: Any, small_advertiser: dict[str, Any]
) -> None:
    other = SandboxScope.fresh(dsp_sandbox)
    await other.script({"endpoint": "*", "status": 503})
    try:
        assert (await dv360.request_report(OLD_DATE)).done
    finally:
        await other.forget()
    assert (await scope.stats())["faults"] == {}


async def test_handle_survives_a_json_round_trip_without_its_date(
    dv360: Connector, scope: SandboxScope, tmp_path: Path
) -> None:
    await scope.script(report_delay_s=0.3)
    handle = await dv360.request_report(OLD_DATE)
    stored = handle.model_dump(mode="json", exclude={"report_date"})  # as a workflow payload carries it
    revived = ReportHandle.model_validate(stored)
    while not revived.done:
        await asyncio.sleep(0.1)
        revived = await dv360.report_status(revived)
    assert (await dv360.download(revived, tmp_path / "report.csv")).bytes > 0
