"""The Bid Manager v2 surface over raw HTTP: field names, lifecycle, errors, downloads with Range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.sandbox.scripting import SandboxScope

OLD = datetime.now(UTC).date() - timedelta(days=30)


def query_body(advertiser_id: str | None = None, **params: Any) -> dict[str, Any]:
    day = {"year": OLD.year, "month": OLD.month, "day": OLD.day}
    filters = [{"type": "FILTER_ADVERTISER", "value": advertiser_id}] if advertiser_id else []
    return {
        "metadata": {
            "title": "api test",
            "format": "CSV",
            "dataRange": {"range": "CUSTOM_DATES", "customStartDate": day, "customEndDate": day},
        },
        "params": {
            "type": "STANDARD",
            "groupBys": ["FILTER_DATE", "FILTER_ADVERTISER", "FILTER_LINE_ITEM"],
            "filters": filters,
            "metrics": ["METRIC_IMPRESSIONS", "METRIC_CLICKS"],
            **params,
        },
        "schedule": {"frequency": "ONE_TIME"},
    }


async def run_report(api: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    query = (await api.post("/v2/queries", json=body)).json()
    report = (await api.post(f"/v2/queries/{query['queryId']}:run", params={"synchronous": "false"})).json()
    return query["queryId"], report


async def done_report(api: httpx.AsyncClient, advertiser_id: str) -> dict[str, Any]:
    query_id, report = await run_report(api, query_body(advertiser_id))
    return (await api.get(f"/v2/queries/{query_id}/reports/{report['key']['reportId']}")).json()


async def test_run_answers_a_queued_report_with_the_apis_field_names(
    api: httpx.AsyncClient, scope: SandboxScope
) -> None:
    query_id, report = await run_report(api, query_body())
    assert query_id.isdigit() and report["key"]["queryId"] == query_id and report["key"]["reportId"].isdigit()
    assert report["metadata"]["status"] == {"state": "QUEUED", "format": "CSV"}
    assert report["metadata"]["reportDataStartDate"] == {"year": OLD.year, "month": OLD.month, "day": OLD.day}
    assert "googleCloudStoragePath" not in report["metadata"]

    done = (await api.get(f"/v2/queries/{query_id}/reports/{report['key']['reportId']}")).json()
    assert done["metadata"]["status"]["state"] == "DONE" and done["metadata"]["status"][
        "finishTime"
    ].endswith("Z")
    assert done["metadata"]["googleCloudStoragePath"].startswith(f"{scope.url}/storage/")


async def test_delay_goes_queued_running_done(api: httpx.AsyncClient, scope: SandboxScope) -> None:
    await scope.script(report_delay_s=0.6)
    query_id, report = await run_report(api, query_body())
    url = f"/v2/queries/{query_id}/reports/{report['key']['reportId']}"
    states = [(await api.get(url)).json()["metadata"]["status"]["state"]]
    while states[-1] != "DONE":
        states.append((await api.get(url)).json()["metadata"]["status"]["state"])
    assert (
        states[0] == "QUEUED"
        and "RUNNING" in states
        and states == sorted(states, key=["QUEUED", "RUNNING", "DONE"].index)
    )


async def test_list_reports_pages_with_tokens(api: httpx.AsyncClient) -> None:
    query = (await api.post("/v2/queries", json=query_body())).json()
    for _ in range(3):
        await api.post(f"/v2/queries/{query['queryId']}:run")
    first = (await api.get(f"/v2/queries/{query['queryId']}/reports", params={"pageSize": 2})).json()
    second = (
        await api.get(
            f"/v2/queries/{query['queryId']}/reports",
            params={"pageSize": 2, "pageToken": first["nextPageToken"]},
        )
    ).json()
    assert len(first["reports"]) == 2 and len(second["reports"]) == 1 and "nextPageToken" not in second
    ids = {report["key"]["reportId"] for report in first["reports"] + second["reports"]}
    assert len(ids) == 3


async def test_bad_query_bodies_are_400_invalid_argument(api: httpx.AsyncClient) -> None:
    for body in (
        query_body(type="TYPE_REACH"),
        query_body(groupBys=["FILTER_DATE", "FILTER_NOPE"]),
        query_body(groupBys=["FILTER_DATE"]),
        {"metadata": {}},
        query_body(unexpected=True),
    ):
        response = await api.post("/v2/queries", json=body)
        assert response.status_code == 400, body
        assert (
            response.json()["error"]["status"] == "INVALID_ARGUMENT"
            and "query" in response.json()["error"]["message"]
        )
    malformed = await api.post("/v2/queries", content=b"{not json")
    assert malformed.status_code == 400


async def test_unknown_query_and_report_are_404_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queries/999/reports/1")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": 404, "message": "Query 999 was not found.", "status": "NOT_FOUND"}
    }


async def test_missing_or_wrong_token_is_401_unauthenticated(dsp_sandbox: Any) -> None:
    async with httpx.AsyncClient(base_url=dsp_sandbox.url) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {dsp_sandbox.token}"},
        ):
            response = await client.post("/v2/queries", json=query_body(), headers=headers)
            assert response.status_code == 401
            assert (
                response.json()["error"]["status"] == "UNAUTHENTICATED"
                and response.json()["error"]["code"] == 401
            )


async def test_download_declares_length_and_serves_ranges(
    api: httpx.AsyncClient, partner: dict[str, Any]
) -> None:
    report = await done_report(api, partner["advertisers"][0]["advertiserId"])
    url = report["metadata"]["googleCloudStoragePath"]
    async with httpx.AsyncClient() as storage:  # no bearer token: the URL is pre-signed
        whole = await storage.get(url)
        middle = await storage.get(url, headers={"Range": "bytes=100-199"})
        tail = await storage.get(url, headers={"Range": "bytes=-50"})
        beyond = await storage.get(url, headers={"Range": f"bytes={len(whole.content)}-"})
    assert whole.status_code == 200 and int(whole.headers["Content-Length"]) == len(whole.content)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert middle.status_code == 206 and middle.content == whole.content[100:200]
    assert middle.headers["Content-Range"] == f"bytes 100-199/{len(whole.content)}"
    assert tail.content == whole.content[-50:]
    assert beyond.status_code == 416


async def test_tampered_download_url_is_403(api: httpx.AsyncClient, partner: dict[str, Any]) -> None:
    report = await done_report(api, partner["advertisers"][0]["advertiserId"])
    url = report["metadata"]["googleCloudStoragePath"]
    async with httpx.AsyncClient() as storage:
        response = await storage.get(url.replace("Signature=", "Signature=0"))
    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content


async def test_scripted_failure_ends_the_report_failed(api: httpx.AsyncClient, scope: SandboxScope) -> None:
    await scope.script({"endpoint": "run_query", "fail_report": True, "times": 1})
    query_id, report = await run_report(api, query_body())
    failed = (await api.get(f"/v2/queries/{query_id}/reports/{report['key']['reportId']}")).json()
    assert (
        failed["metadata"]["status"]["state"] == "FAILED"
        and "googleCloudStoragePath" not in failed["metadata"]
    )


async def test_queries_can_be_read_listed_and_deleted(api: httpx.AsyncClient) -> None:
    query = (await api.post("/v2/queries", json=query_body())).json()
    assert (await api.get(f"/v2/queries/{query['queryId']}")).json() == query
    listed = (await api.get("/v2/queries")).json()["queries"]
    assert [item["queryId"] for item in listed] == [query["queryId"]]  # only this token's queries
    assert (await api.delete(f"/v2/queries/{query['queryId']}")).status_code == 200
    assert (await api.get(f"/v2/queries/{query['queryId']}")).status_code == 404


async def test_a_date_range_reports_every_day_in_order(
    api: httpx.AsyncClient, partner: dict[str, Any]
) -> None:
    advertiser = partner["advertisers"][0]
    body = query_body(advertiser["advertiserId"])
    first = OLD - timedelta(days=2)
    body["metadata"]["dataRange"]["customStartDate"] = {
        "year": first.year,
        "month": first.month,
        "day": first.day,
    }
    query_id, report = await run_report(api, body)
    done = (await api.get(f"/v2/queries/{query_id}/reports/{report['key']['reportId']}")).json()
    async with httpx.AsyncClient() as storage:
        text = (await storage.get(done["metadata"]["googleCloudStoragePath"])).text
    data = text.split("\n\n")[0].splitlines()[1:-1]  # without header and totals row
    dates = [row.split(",")[0] for row in data]
    assert len(data) == 3 * advertiser["rowsPerDay"]
    assert dates == sorted(dates) and len(set(dates)) == 3 and dates[-1] == f"{OLD:%Y/%m/%d}"
