"""Activities of OnboardingWorkflow: one per step, one to undo a step, one to record a step's state.

Thin: each calls ``service.onboarding``, which does the step idempotently and records it in the
``onboardings`` row. Failures follow the retry table (``classified``): a source refusing the
credentials (``SourceAuthError``) is terminal and fails the step at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from etl_orchestrator.activities.base import retry_settings
from etl_orchestrator.activities.orchestration import ServiceActivities
from etl_orchestrator.activities.orchestration_contracts import (
    OnboardingStepInput,
    OnboardingStepResult,
    StepStateInput,
    StepStateResult,
)
from etl_orchestrator.activities.retrying import classified
from etl_orchestrator.service import onboarding


class OnboardingActivities(ServiceActivities):
    def activities(self) -> list[Callable[..., Any]]:
        return [self.create_organization, self.create_api_key, self.check_credentials, self.create_pipelines,
                self.create_schedules, self.start_initial_backfill, self.notify_onboarded,
                self.undo_onboarding_step, self.record_onboarding_step]

    async def _step(self, params: OnboardingStepInput, step: str) -> OnboardingStepResult:
        return await onboarding.run_step(self.ctx, params.model_copy(update={"step": step}))

    @activity.defn(name="onboarding_create_organization")
    @classified(retry_settings)
    async def create_organization(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "create_organization")

    @activity.defn(name="onboarding_create_api_key")
    @classified(retry_settings)
    async def create_api_key(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "create_api_key")

    @activity.defn(name="onboarding_check_credentials")
    @classified(retry_settings)
    async def check_credentials(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "check_credentials")

    @activity.defn(name="onboarding_create_pipelines")
    @classified(retry_settings)
    async def create_pipelines(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "create_pipelines")

    @activity.defn(name="onboarding_create_schedules")
    @classified(retry_settings)
    async def create_schedules(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "create_schedules")

    @activity.defn(name="onboarding_start_backfill")
    @classified(retry_settings)
    async def start_initial_backfill(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "start_backfill")

    @activity.defn(name="onboarding_notify")
    @classified(retry_settings)
    async def notify_onboarded(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await self._step(params, "notify")

    @activity.defn(name="onboarding_undo_step")
    @classified(retry_settings)
    async def undo_onboarding_step(self, params: OnboardingStepInput) -> OnboardingStepResult:
        return await onboarding.undo_step(self.ctx, params)

    @activity.defn(name="onboarding_record_step")
    @classified(retry_settings)
    async def record_onboarding_step(self, params: StepStateInput) -> StepStateResult:
        return await onboarding.record_step(self.ctx, params)
