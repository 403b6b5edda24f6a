"""Fault injection: scripted counts are exact, rates are deterministic, scopes never leak."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.scripting import SandboxScope


async def advertiser_statuses(api: httpx.AsyncClient, advertiser_id: str, count: int) -> list[int]:
    return [(await api.get(f"/v4/advertisers/{advertiser_id}")).status_code for _ in range(count)]


async def test_times_fail_exactly_the_next_n_requests(
    api: httpx.AsyncClient, scope: SandboxScope, partner: dict[str, Any]
) -> None:
    await scope.script({"endpoint": "advertiser", "status": 503, "times": 3})
    statuses = await advertiser_statuses(api, partner["advertisers"][0]["advertiserId"], 5)
    assert statuses == [503, 503, 503, 200, 200]
    stats = await scope.stats()
    assert stats["requests"] == {"advertiser": 5} and stats["faults"] == {"advertiser": 3}
    remaining = (await api.get(f"{scope.url}/_sandbox/faults", params={"token": scope.token})).json()
    assert remaining["rules"][0]["remaining"] == 0


async def test_429_carries_retry_after_only_when_scripted(
    api: httpx.AsyncClient, scope: SandboxScope, partner: dict[str, Any]
) -> None:
    advertiser_id = partner["advertisers"][0]["advertiserId"]
    await scope.script(
        {"endpoint": "advertiser", "status": 429, "retry_after_s": 2, "times": 1},
        {"endpoint": "advertiser", "status": 429, "times": 1},
    )
    with_header = await api.get(f"/v4/advertisers/{advertiser_id}")
    without_header = await api.get(f"/v4/advertisers/{advertiser_id}")
    assert with_header.status_code == without_header.status_code == 429
    assert with_header.headers["Retry-After"] == "2" and "Retry-After" not in without_header.headers
    assert with_header.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_rates_are_deterministic_per_scope(dsp_sandbox: Any, partner: dict[str, Any]) -> None:
    advertiser_id = partner["advertisers"][0]["advertiserId"]
    scope = SandboxScope(url=dsp_sandbox.url, token=f"{dsp_sandbox.token}.fixed-rate-scope")
    runs = []
    for _ in range(2):
        await scope.forget()
        await scope.script({"endpoint": "advertiser", "status": 500, "rate": 0.5})
        async with httpx.AsyncClient(base_url=scope.url, headers=scope.auth) as api:
            runs.append(await advertiser_statuses(api, advertiser_id, 20))
    await scope.forget()
    assert runs[0] == runs[1] and 3 <= runs[0].count(500) <= 17


async def test_advertiser_scoped_rule_spares_other_advertisers(
    api: httpx.AsyncClient, scope: SandboxScope, partner: dict[str, Any]
) -> None:
    target, other = (adv["advertiserId"] for adv in partner["advertisers"][:2])
    await scope.script({"endpoint": "insertion_orders", "advertiser_id": target, "status": 500})
    assert (await api.get(f"/v4/advertisers/{target}/insertionOrders")).status_code == 500
    assert (await api.get(f"/v4/advertisers/{other}/insertionOrders")).status_code == 200


async def test_a_scopes_faults_never_reach_another_scope(
    api: httpx.AsyncClient, scope: SandboxScope, dsp_sandbox: Any, partner: dict[str, Any]
) -> None:
    noisy = SandboxScope.fresh(dsp_sandbox)
    await noisy.script({"endpoint": "*", "status": 500})
    try:
        assert set(await advertiser_statuses(api, partner["advertisers"][0]["advertiserId"], 3)) == {200}
    finally:
        await noisy.forget()
    assert (await scope.stats())["faults"] == {}


async def test_header_scripts_a_single_request(api: httpx.AsyncClient, partner: dict[str, Any]) -> None:
    url = f"/v4/advertisers/{partner['advertisers'][0]['advertiserId']}"
    assert (await api.get(url, headers={"X-Sandbox-Fault": "504"})).json()["error"][
        "status"
    ] == "DEADLINE_EXCEEDED"
    slow = await api.get(url, headers={"X-Sandbox-Fault": "delay=0.3"})
    assert slow.status_code == 200 and slow.elapsed.total_seconds() >= 0.3
    assert (await api.get(url, headers={"X-Sandbox-Fault": "malformed"})).text.startswith('{"queryId": "12')
    assert (await api.get(url, headers={"X-Sandbox-Fault": "explode"})).status_code == 400
    assert (await api.get(url)).status_code == 200


async def test_invalid_fault_profiles_are_rejected(dsp_sandbox: Any) -> None:
    async with httpx.AsyncClient(base_url=dsp_sandbox.url) as admin:
        unknown_endpoint = await admin.put(
            "/_sandbox/faults", json={"rules": [{"endpoint": "nope", "status": 500}]}
        )
        no_effect = await admin.put("/_sandbox/faults", json={"rules": [{"endpoint": "download"}]})
    assert unknown_endpoint.status_code == no_effect.status_code == 400


async def test_registered_tokens_are_accepted(dsp_sandbox: Any, partner: dict[str, Any]) -> None:
    url = f"/v4/advertisers/{partner['advertisers'][0]['advertiserId']}"
    async with httpx.AsyncClient(base_url=dsp_sandbox.url) as client:
        assert (
            await client.get(url, headers={"Authorization": "Bearer registered-later"})
        ).status_code == 401
        assert (await client.post("/_sandbox/tokens", json={"token": "registered-later"})).status_code == 201
        assert (
            await client.get(url, headers={"Authorization": "Bearer registered-later"})
        ).status_code == 200
