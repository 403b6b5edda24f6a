"""Organizations (admin only) and API keys: shown once, stored hashed, listed without the key, revocable."""

from __future__ import annotations

import uuid

import psycopg

from etl_orchestrator.service.auth import hash_key

PREFIX = "/api/v1/etl"


async def create_org(client, admin_headers, **body):
    slug = f"org-{uuid.uuid4().hex[:8]}"
    response = await client.post(f"{PREFIX}/organizations", json={"name": "Acme " + slug, "slug": slug, **body},
                                 headers=admin_headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_admin_creates_an_org_whose_first_key_works_and_is_stored_hashed(client, admin_headers, stack):
    created = await create_org(client, admin_headers, key_name="bootstrap")
    org, key = created["organization"], created["api_key"]
    assert key["key"].startswith("etl_") and key["prefix"] == key["key"][:12] and key["name"] == "bootstrap"
    assert key["org_id"] == org["id"] and org["status"] == "active"
    listing = await client.get(f"{PREFIX}/executions", headers={"Authorization": f"Bearer {key['key']}"})
    assert listing.status_code == 200 and listing.json()["executions"] == []
    with psycopg.connect(stack.settings.database.url) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (key["id"],)).fetchone()[0]
    assert stored == hash_key(key["key"]) and key["key"] not in stored

    assert (await client.get(f"{PREFIX}/organizations/{org['id']}", headers=admin_headers)).json() == org
    duplicate = await client.post(f"{PREFIX}/organizations", json={"name": "x", "slug": org["slug"]},
                                  headers=admin_headers)
    assert duplicate.status_code == 409


async def test_organization_listing_pages(client, admin_headers):
    for _ in range(3):
        await create_org(client, admin_headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{PREFIX}/organizations", params=params, headers=admin_headers)).json()
        seen += [org["id"] for org in page["organizations"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) >= 3 and seen == sorted(seen)


async def test_org_keys_cannot_see_organization_admin(client, tenant):
    for method, path in (("GET", "/organizations"), ("GET", f"/organizations/{tenant.org_id}"),
                         ("POST", "/organizations")):
        response = await client.request(method, PREFIX + path, headers=tenant.headers,
                                        json={"name": "x"} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)


async def test_an_org_key_manages_its_own_keys_and_revocation_is_immediate(client, tenant):
    keys_url = f"{PREFIX}/organizations/{tenant.org_id}/api-keys"
    created = await client.post(keys_url, json={"name": "ci"}, headers=tenant.headers)
    assert created.status_code == 201
    new_key = created.json()
    new_headers = {"Authorization": f"Bearer {new_key['key']}"}
    assert (await client.get(f"{PREFIX}/executions", headers=new_headers)).status_code == 200

    listed = (await client.get(keys_url, headers=tenant.headers)).json()["api_keys"]
    assert {key["name"] for key in listed} == {"test key", "ci"}
    assert all("key" not in key and len(key["prefix"]) == 12 for key in listed)
    assert new_key["key"] not in str(listed)

    revoked = await client.post(f"{keys_url}/{new_key['id']}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.get(f"{PREFIX}/executions", headers=new_headers)).status_code == 401
    again = await client.post(f"{keys_url}/{new_key['id']}/revoke", headers=tenant.headers)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # idempotent
    unknown = await client.post(f"{keys_url}/{uuid.uuid4()}/revoke", headers=tenant.headers)
    assert unknown.status_code == 404


async def test_malformed_organization_input_is_422(client, admin_headers):
    for body, field in (({"name": ""}, "name"), ({"name": "x", "slug": "Not A Slug"}, "slug"),
                        ({"name": "x", "plan": "gold"}, "plan")):
        response = await client.post(f"{PREFIX}/organizations", json=body, headers=admin_headers)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    for org_id in ("0", "2147483648", "abc"):
        response = await client.get(f"{PREFIX}/organizations/{org_id}", headers=admin_headers)
        assert response.status_code == 422 and response.json()["field"] == "org_id"
