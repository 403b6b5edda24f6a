"""The seed's four endpoints: authentication, and malformed input answered with 4xx naming the field."""

from __future__ import annotations

import uuid

import pytest

PREFIX = "/api/v1/etl"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer etl_not-a-real-key"},
                                     {"Authorization": "Basic Zm9vOmJhcg=="}])
async def test_missing_or_wrong_key_is_401(client, headers):
    for method, path in (("GET", "/executions"), ("POST", "/trigger"), ("GET", f"/executions/{uuid.uuid4()}/logs"),
                         ("GET", "/data-quality")):
        response = await client.request(method, PREFIX + path, headers=headers, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("body", "field"), [
    ({"pipeline_id": "not-a-uuid"}, "pipeline_id"),
    ({}, "pipeline_id"),
    ({"pipeline_id": str(uuid.uuid4()), "parameters": {"date_range": {"start": "2024-13-01", "end": "2024-12-02"}}},
     "parameters.date_range.start"),
    ({"pipeline_id": str(uuid.uuid4()), "parameters": {"force": "sometimes"}}, "parameters.force"),
])
async def test_malformed_trigger_is_422_naming_the_field(client, tenant, body, field):
    response = await client.post(PREFIX + "/trigger", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field
    assert field in problem["detail"]


async def test_trigger_range_ending_before_it_starts_is_422(client, tenant):
    response = await client.post(PREFIX + "/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id, "parameters": {"date_range": {"start": "2024-12-23", "end": "2024-12-20"}}})
    assert response.status_code == 422
    assert response.json()["field"] == "parameters.date_range.end"


async def test_trigger_of_a_pipeline_the_org_cannot_see_is_404(client, tenant, stack, dsp_sandbox):
    from tests.support import create_tenant

    other = await create_tenant(stack.settings.database.url,
                                source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    response = await client.post(PREFIX + "/trigger", headers=tenant.headers, json={"pipeline_id": other.pipeline_id})
    assert response.status_code == 404


@pytest.mark.parametrize(("query", "field"), [
    ("status=exploded", "status"), ("pipeline_id=123", "pipeline_id"), ("date_from=yesterday", "date_from"),
    ("date_from=2024-12-10&date_to=2024-12-01", "date_from"), ("limit=0", "limit"), ("cursor=%%%", "cursor"),
])
async def test_malformed_listing_is_422_naming_the_field(client, tenant, query, field):
    response = await client.get(f"{PREFIX}/executions?{query}", headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_logs_of_a_malformed_or_unknown_execution(client, tenant):
    assert (await client.get(f"{PREFIX}/executions/nope/logs", headers=tenant.headers)).status_code == 422
    assert (await client.get(f"{PREFIX}/executions/{uuid.uuid4()}/logs", headers=tenant.headers)).status_code == 404


async def test_data_quality_rejects_a_bad_window(client, tenant):
    response = await client.get(f"{PREFIX}/data-quality?window=forever", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "window"


async def test_oversized_body_is_413(client, tenant):
    response = await client.post(PREFIX + "/trigger", headers={**tenant.headers, "Content-Type": "application/json"},
                                 content=b"{" + b" " * 2_000_000 + b"}")
    assert response.status_code == 413


async def test_a_chunked_oversized_body_is_413_too(client, tenant):
    """Without Content-Length the limit is enforced on the bytes as they arrive."""
    async def chunks():
        for _ in range(40):
            yield b" " * 65_536

    response = await client.post(PREFIX + "/trigger", content=chunks(),
                                  headers={**tenant.headers, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["field"] == "body"


async def test_a_range_longer_than_the_configured_maximum_is_422(client, tenant, stack):
    limit = stack.settings.etl.ingestion.max_range_days
    response = await client.post(PREFIX + "/trigger", headers=tenant.headers, json={
        "pipeline_id": tenant.pipeline_id,
        "parameters": {"date_range": {"start": "2000-01-01", "end": f"{2000 + limit // 365 + 1}-01-01"}}})
    assert response.status_code == 422
    assert response.json()["field"] == "parameters.date_range"
