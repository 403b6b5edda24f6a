"""OnboardingWorkflow: set up a new organization step by step; on failure undo what was done (a saga).

Steps (``service/onboarding.py`` does each, idempotently): create the organization, its first API
key, check the source's credentials, create the pipelines, their schedules, start the initial
backfill, announce ``organization.onboarded``. A step that fails after its retries — or a cancel of
the workflow — stops the run; the completed steps are undone in reverse order, each recorded
``compensated``, and the onboarding ends ``failed`` naming the step and the reason.

The input is the onboarding id only, so the source's credentials never enter Temporal's history;
the new API key leaves its activity sealed (see ``service/onboarding.py``).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from etl_orchestrator.activities.onboarding import OnboardingActivities
    from etl_orchestrator.activities.orchestration_contracts import (
        OnboardingInput,
        OnboardingResult,
        OnboardingStepInput,
        StepStateInput,
    )
    from etl_orchestrator.service.onboarding import STEPS, UNDOABLE_STEPS
    from etl_orchestrator.workflows.common import failure_message, short_activity

STEP_ACTIVITIES = {
    "create_organization": OnboardingActivities.create_organization,
    "create_api_key": OnboardingActivities.create_api_key,
    "check_credentials": OnboardingActivities.check_credentials,
    "create_pipelines": OnboardingActivities.create_pipelines,
    "create_schedules": OnboardingActivities.create_schedules,
    "start_backfill": OnboardingActivities.start_initial_backfill,
    "notify": OnboardingActivities.notify_onboarded,
}


@workflow.defn(name="OnboardingWorkflow")
class OnboardingWorkflow:
    def __init__(self) -> None:
        self._steps: dict[str, str] = {step: "pending" for step in STEPS}
        self._error: str | None = None

    @workflow.query
    def progress(self) -> dict:
        return {"steps": [{"name": name, "status": status} for name, status in self._steps.items()],
                "error": self._error}

    @workflow.run
    async def run(self, params: OnboardingInput) -> OnboardingResult:
        options = short_activity(params.options)
        state = OnboardingStepInput(onboarding_id=params.onboarding_id, step="", today=workflow.now().date())
        sealed_key: str | None = None
        completed: list[str] = []
        current = STEPS[0]
        try:
            for current in STEPS:
                self._steps[current] = "running"
                result = await workflow.execute_activity_method(
                    STEP_ACTIVITIES[current], state.model_copy(update={"step": current}), **options)
                state = state.model_copy(update={
                    "org_id": result.org_id if result.org_id is not None else state.org_id,
                    "api_key_id": result.api_key_id or state.api_key_id,
                    "pipeline_ids": result.pipeline_ids or state.pipeline_ids,
                    "backfill_ids": result.backfill_ids or state.backfill_ids,
                })
                sealed_key = result.sealed_api_key or sealed_key
                self._steps[current] = "completed"
                completed.append(current)
        except (ActivityError, asyncio.CancelledError) as error:
            cancelled = isinstance(error, asyncio.CancelledError)
            reason = "the onboarding was cancelled" if cancelled else failure_message(error)
            self._error = f"{current} failed: {reason}"
            await self._compensate(params, state, current, reason, completed)
            if cancelled:
                raise
            return OnboardingResult(onboarding_id=params.onboarding_id, status="failed", error=self._error)
        await workflow.execute_activity_method(
            OnboardingActivities.record_onboarding_step,
            StepStateInput(onboarding_id=params.onboarding_id, step="notify", status="completed",
                           final_status="completed"), **options)
        return OnboardingResult(onboarding_id=params.onboarding_id, status="completed", org_id=state.org_id,
                                api_key_id=state.api_key_id, sealed_api_key=sealed_key,
                                pipeline_ids=state.pipeline_ids, backfill_ids=state.backfill_ids)

    async def _compensate(self, params: OnboardingInput, state: OnboardingStepInput, failed_step: str, reason: str,
                          completed: list[str]) -> None:
        """Record the failure, undo the completed steps newest first, then close the onboarding failed."""
        options = short_activity(params.options)
        self._steps[failed_step] = "failed"
        await workflow.execute_activity_method(
            OnboardingActivities.record_onboarding_step,
            StepStateInput(onboarding_id=params.onboarding_id, step=failed_step, status="failed", detail=reason),
            **options)
        problems: list[str] = []
        for step in reversed(completed):
            if step not in UNDOABLE_STEPS:
                continue
            try:
                await workflow.execute_activity_method(
                    OnboardingActivities.undo_onboarding_step, state.model_copy(update={"step": step}), **options)
                self._steps[step] = "compensated"
            except ActivityError as error:
                # Keep undoing the rest; what could not be undone is named in the error.
                self._steps[step] = "compensation_failed"
                problems.append(f"undoing {step} failed: {failure_message(error)}")
                await workflow.execute_activity_method(
                    OnboardingActivities.record_onboarding_step,
                    StepStateInput(onboarding_id=params.onboarding_id, step=step, status="compensation_failed",
                                   detail=failure_message(error)), **options)
        error = "; ".join([self._error or reason, *problems])
        self._error = error
        await workflow.execute_activity_method(
            OnboardingActivities.record_onboarding_step,
            StepStateInput(onboarding_id=params.onboarding_id, step=failed_step, status="failed",
                           final_status="failed", error=error), **options)
