"""Onboarding a new organization (admin keys only): start ``OnboardingWorkflow``, follow its steps."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from etl_orchestrator.api.rest.deps import AdminDep, ContextDep
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.schemas import Onboarding, OnboardingStarted
from etl_orchestrator.service import onboarding as service

router = APIRouter(prefix="/onboarding", tags=["onboarding"])


@router.post("", response_model=OnboardingStarted, status_code=202, responses=problem_responses(400, 409, 413),
             summary="Onboard an organization: org, key, credentials check, pipelines, schedules, backfill")
async def start_onboarding(ctx: ContextDep, principal: AdminDep, body: service.OnboardingRequest) -> dict:
    return await service.start_onboarding(ctx, principal, body)


@router.get("/{onboarding_id}", response_model=Onboarding, summary="An onboarding's status and steps")
async def get_onboarding(ctx: ContextDep, principal: AdminDep, onboarding_id: UUID) -> dict:
    return await service.get_onboarding(ctx, principal, onboarding_id)
