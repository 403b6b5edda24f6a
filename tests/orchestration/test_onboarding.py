"""OnboardingWorkflow: a new organization set up end to end, or rolled back step by step (saga)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select

from etl_orchestrator.db.models import (
    api_keys,
    backfills,
    event_outbox,
    onboardings,
    organizations,
    pipelines,
)
from etl_orchestrator.domain.errors import ConflictError, NotFoundError
from etl_orchestrator.service import onboarding, schedules
from etl_orchestrator.service.context import Principal
from tests.orchestration.helpers import ADMIN, wait_until
from tests.sandbox.scripting import SandboxScope

OTHER_ADMIN = Principal(key_id="another-admin", org_id=None, is_admin=True)


async def wait_onboarding(service, onboarding_id: str, *, timeout_s: float = 60) -> dict[str, Any]:
    """Until the onboarding ends, read from the row (``get_onboarding`` would hand out the key)."""

    async def ended():
        async with service.engine.connect() as conn:
            row = (await conn.execute(select(onboardings).where(onboardings.c.id == UUID(onboarding_id)))
                   ).mappings().one()
        return dict(row) if row["status"] != "running" else None

    return await wait_until(ended, timeout_s=timeout_s, what=f"onboarding {onboarding_id}")


async def count(service, table, *conditions) -> int:
    async with service.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*conditions))).scalar_one()


def request(dsp_sandbox, advertiser, *, token: str, days: int = 2) -> onboarding.OnboardingRequest:
    suffix = uuid.uuid4().hex[:8]
    return onboarding.OnboardingRequest(
        org_name=f"Acme {suffix}", org_slug=f"acme-{suffix}",
        source_config={"base_url": dsp_sandbox.url, "token": token,
                       "advertiser_ids": [advertiser["advertiserId"]]},
        initial_backfill_days=days)


async def test_onboarding_creates_org_key_pipeline_schedule_and_backfill(stack, service, dsp_sandbox, advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    asked = request(dsp_sandbox, advertiser, token=scope.token)
    started = await onboarding.start_onboarding(service, ADMIN, asked)
    assert started["status"] == "running" and started["workflow_id"] == f"onboarding:{started['onboarding_id']}"
    row = await wait_onboarding(service, started["onboarding_id"])
    assert row["status"] == "completed", row["error"]

    # Another admin sees the onboarding but not the key; the one who started it gets it, once.
    seen_by_other = await onboarding.get_onboarding(service, OTHER_ADMIN, UUID(started["onboarding_id"]))
    assert seen_by_other["api_key"] is None and not seen_by_other["api_key_delivered"]
    view = await onboarding.get_onboarding(service, ADMIN, UUID(started["onboarding_id"]))
    key = view["api_key"]
    assert key and key.startswith("etl_")
    again = await onboarding.get_onboarding(service, ADMIN, UUID(started["onboarding_id"]))
    assert again["api_key"] is None and again["api_key_delivered"]
    assert [(step["name"], step["status"]) for step in view["steps"]] == [
        (name, "completed") for name in onboarding.STEPS]
    # The sealed key in Temporal's history is all that is left of it there, and the pad is gone.
    result = await service.require_temporal().get_workflow_handle(
        started["workflow_id"], result_type=onboarding.OnboardingResult).result()
    assert result.sealed_api_key and key not in result.model_dump_json()
    async with service.engine.connect() as conn:
        stored = (await conn.execute(select(onboardings.c.request).where(
            onboardings.c.id == UUID(started["onboarding_id"])))).scalar_one()
    assert not any(name.startswith("_api_key") for name in stored)

    org_id = view["org_id"]
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        listed = await client.get("/api/v1/etl/executions", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    [pipeline_id] = view["pipeline_ids"]
    async with service.engine.connect() as conn:
        pipeline = (await conn.execute(select(pipelines).where(pipelines.c.id == UUID(pipeline_id)))
                    ).mappings().one()
    assert (pipeline["name"], pipeline["schedule_cron"], pipeline["schedule_state"]) == (
        "DV360 Daily", "0 6 * * *", "active")
    schedule = await schedules.describe_schedule(service, ADMIN, UUID(pipeline_id))
    assert schedule["state"] == "active" and schedule["next_runs"][0].endswith("T06:00:00Z")
    [backfill_id] = view["backfill_ids"]
    async with service.engine.connect() as conn:
        backfill = (await conn.execute(select(backfills).where(backfills.c.id == UUID(backfill_id)))
                    ).mappings().one()
    assert backfill["org_id"] == org_id and (backfill["date_end"] - backfill["date_start"]).days + 1 == 2
    assert await count(service, event_outbox, event_outbox.c.event_type == onboarding.ONBOARDED_EVENT,
                       event_outbox.c.org_id == org_id) == 1
    await schedules.remove_pipeline_schedule(service, UUID(pipeline_id))


async def test_bad_credentials_roll_back_everything_and_say_why(stack, service, dsp_sandbox, advertiser):
    asked = request(dsp_sandbox, advertiser, token="not-a-sandbox-token")
    started = await onboarding.start_onboarding(service, ADMIN, asked)
    row = await wait_onboarding(service, started["onboarding_id"])
    view = await onboarding.get_onboarding(service, ADMIN, UUID(started["onboarding_id"]))
    assert row["status"] == view["status"] == "failed" and view["compensated"]
    assert "check_credentials failed" in view["error"] and "401" in view["error"]
    assert view["api_key"] is None
    assert {step["name"]: step["status"] for step in view["steps"]} == {
        "create_organization": "compensated", "create_api_key": "compensated", "check_credentials": "failed",
        "create_pipelines": "pending", "create_schedules": "pending", "start_backfill": "pending",
        "notify": "pending"}
    org_id = row["org_id"]
    assert org_id is not None
    assert await count(service, organizations, organizations.c.id == org_id) == 0
    assert await count(service, organizations, organizations.c.slug == asked.org_slug) == 0
    assert await count(service, api_keys, api_keys.c.org_id == org_id) == 0
    assert await count(service, pipelines, pipelines.c.org_id == org_id) == 0


async def test_only_admins_onboard_and_slugs_are_unique(service, dsp_sandbox, advertiser):
    tenant_key = Principal(key_id="tenant", org_id=1, is_admin=False)
    asked = request(dsp_sandbox, advertiser, token=dsp_sandbox.token)
    with pytest.raises(NotFoundError):
        await onboarding.start_onboarding(service, tenant_key, asked)
    async with service.engine.begin() as conn:
        await conn.execute(organizations.insert().values(name="Taken", slug=asked.org_slug))
    with pytest.raises(ConflictError):
        await onboarding.start_onboarding(service, ADMIN, asked)


def test_a_sealed_key_opens_only_with_its_pad():
    pad, other_pad = bytes(range(64)), bytes(range(1, 65))
    sealed = onboarding.seal("etl_secret-key", pad)
    assert "secret" not in sealed
    assert onboarding.unseal(sealed, pad) == "etl_secret-key"
    try:
        opened_wrongly = onboarding.unseal(sealed, other_pad)
    except UnicodeDecodeError:
        opened_wrongly = None
    assert opened_wrongly != "etl_secret-key"
