"""``etl.v1.EtlService``: each RPC parses its request, calls the service layer (shared with REST), and
turns the answer into a message. Authentication and error codes are the decorators' (``errors.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from etl_orchestrator.api.grpc.convert import (
    date_range,
    json_of,
    optional_date,
    optional_uuid,
    page_size,
    parse_model,
    present,
    required_uuid,
    to_message,
)
from etl_orchestrator.api.grpc.errors import server_streaming, unary
from etl_orchestrator.api.grpc.protos import etl_pb2 as pb
from etl_orchestrator.api.grpc.protos import etl_pb2_grpc
from etl_orchestrator.domain.errors import ValidationFailed
from etl_orchestrator.service import (
    api_keys,
    backfills,
    executions,
    onboarding,
    organizations,
    pipelines,
    quarantine,
    schedules,
    validation,
)
from etl_orchestrator.service.context import Principal, ServiceContext
from etl_orchestrator.service.quality import quality_summary

EXECUTION_STATUSES = ("scheduled", "running", "completed", "failed", "cancelled")
# Update fields where an empty string means "clear it" (they are nullable columns).
CLEARABLE = ("schedule_cron", "webhook_url", "webhook_secret")


def _trigger_response(result: executions.TriggerResult) -> pb.TriggerResponse:
    return to_message(pb.TriggerResponse, {"execution_id": result.execution_id, "status": result.status,
                                           "estimated_start": result.estimated_start.replace(microsecond=0)})


def _pipeline_fields(request: Any) -> dict[str, Any]:
    """The pipeline fields a request set (those with presence), as the service layer takes them."""
    fields = {}
    for field in request.DESCRIPTOR.fields:
        if field.name in pipelines.UPDATABLE and field.has_presence and request.HasField(field.name):
            value = getattr(request, field.name)
            fields[field.name] = json_of(value) if field.message_type is not None else value
    for name in CLEARABLE:
        if fields.get(name) == "":
            fields[name] = None
    return fields


class EtlServicer(etl_pb2_grpc.EtlServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------ executions

    @unary
    async def Trigger(self, request: pb.TriggerRequest, principal: Principal) -> pb.TriggerResponse:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        start, end = date_range(request) or (None, None)
        if start is not None:
            executions.validate_range(self.ctx.settings, start, end, field="date_range")
        return _trigger_response(await executions.trigger_execution(
            self.ctx, principal, pipeline_id=pipeline_id, start=start, end=end, force=request.force))

    @unary
    async def ListExecutions(self, request: pb.ListExecutionsRequest, principal: Principal
                             ) -> pb.ListExecutionsResponse:
        if request.status and request.status not in EXECUTION_STATUSES:
            raise ValidationFailed("status", f"one of {', '.join(EXECUTION_STATUSES)}")
        filters = executions.ExecutionFilter(
            pipeline_id=optional_uuid("pipeline_id", request.pipeline_id), status=request.status or None,
            date_from=optional_date("date_from", request.date_from), date_to=optional_date("date_to", request.date_to))
        rows, next_cursor = await executions.list_executions(self.ctx, principal, filters,
                                                             limit=page_size(request.limit),
                                                             cursor=request.cursor or None)
        return to_message(pb.ListExecutionsResponse, {"executions": rows, "next_cursor": next_cursor})

    @unary
    async def GetExecution(self, request: pb.GetExecutionRequest, principal: Principal) -> pb.Execution:
        execution_id = required_uuid("execution_id", request.execution_id)
        return to_message(pb.Execution, await executions.get_execution(self.ctx, principal, execution_id))

    @unary
    async def GetExecutionLogs(self, request: pb.GetExecutionLogsRequest, principal: Principal
                               ) -> pb.GetExecutionLogsResponse:
        execution_id = required_uuid("execution_id", request.execution_id)
        logs = await executions.execution_logs_of(self.ctx, principal, execution_id,
                                                  limit=page_size(request.limit, default=1000, maximum=10000))
        return to_message(pb.GetExecutionLogsResponse, {"logs": logs})

    @unary
    async def CancelExecution(self, request: pb.CancelExecutionRequest, principal: Principal
                              ) -> pb.CancelExecutionResponse:
        execution_id = required_uuid("execution_id", request.execution_id)
        return to_message(pb.CancelExecutionResponse,
                          await executions.cancel_execution(self.ctx, principal, execution_id))

    @unary
    async def RetryExecution(self, request: pb.RetryExecutionRequest, principal: Principal) -> pb.TriggerResponse:
        execution_id = required_uuid("execution_id", request.execution_id)
        return _trigger_response(await executions.retry_execution(self.ctx, principal, execution_id))

    @server_streaming
    async def WatchExecution(self, request: pb.WatchExecutionRequest, principal: Principal
                             ) -> AsyncIterator[pb.Execution]:
        execution_id = required_uuid("execution_id", request.execution_id)
        async for snapshot in executions.watch_execution(self.ctx, principal, execution_id):
            yield to_message(pb.Execution, snapshot)

    @unary
    async def GetDataQuality(self, request: pb.GetDataQualityRequest, principal: Principal) -> pb.DataQualityReport:
        report = await quality_summary(self.ctx, principal, window=request.window or "24h",
                                       pipeline_id=optional_uuid("pipeline_id", request.pipeline_id))
        return to_message(pb.DataQualityReport, report)

    # ------------------------------------------------------------------------------ pipelines

    @unary
    async def CreatePipeline(self, request: pb.CreatePipelineRequest, principal: Principal) -> pb.Pipeline:
        fields = _pipeline_fields(request)
        spec = pipelines.PipelineSpec(**{"name": request.name, "source_kind": request.source_kind,
                                         "source_config": {}, **fields})
        return to_message(pb.Pipeline, await pipelines.create_pipeline(self.ctx, principal, spec,
                                                                       org_id=present(request, "org_id")))

    @unary
    async def ListPipelines(self, request: pb.ListPipelinesRequest, principal: Principal) -> pb.ListPipelinesResponse:
        rows, next_cursor = await pipelines.list_pipelines(self.ctx, principal, limit=page_size(request.limit),
                                                           cursor=request.cursor or None,
                                                           org_id=present(request, "org_id"))
        return to_message(pb.ListPipelinesResponse, {"pipelines": rows, "next_cursor": next_cursor})

    @unary
    async def GetPipeline(self, request: pb.GetPipelineRequest, principal: Principal) -> pb.Pipeline:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Pipeline, await pipelines.get_pipeline(self.ctx, principal, pipeline_id))

    @unary
    async def UpdatePipeline(self, request: pb.UpdatePipelineRequest, principal: Principal) -> pb.Pipeline:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Pipeline, await pipelines.update_pipeline(self.ctx, principal, pipeline_id,
                                                                       _pipeline_fields(request)))

    @unary
    async def DeletePipeline(self, request: pb.DeletePipelineRequest, principal: Principal
                             ) -> pb.DeletePipelineResponse:
        await pipelines.delete_pipeline(self.ctx, principal, required_uuid("pipeline_id", request.pipeline_id))
        return pb.DeletePipelineResponse()

    # ------------------------------------------------------------------------------ schedules

    @unary
    async def GetSchedule(self, request: pb.ScheduleRequest, principal: Principal) -> pb.Schedule:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Schedule, await schedules.describe_schedule(self.ctx, principal, pipeline_id))

    @unary
    async def PauseSchedule(self, request: pb.PauseScheduleRequest, principal: Principal) -> pb.Schedule:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Schedule, await schedules.pause_schedule(self.ctx, principal, pipeline_id,
                                                                      note=request.note or None))

    @unary
    async def ResumeSchedule(self, request: pb.ScheduleRequest, principal: Principal) -> pb.Schedule:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Schedule, await schedules.resume_schedule(self.ctx, principal, pipeline_id))

    @unary
    async def TriggerSchedule(self, request: pb.ScheduleRequest, principal: Principal) -> pb.Schedule:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        return to_message(pb.Schedule, await schedules.trigger_schedule_now(self.ctx, principal, pipeline_id))

    # ------------------------------------------------------------------------------ backfills

    @unary
    async def CreateBackfill(self, request: pb.CreateBackfillRequest, principal: Principal) -> pb.Backfill:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        dates = date_range(request)
        if dates is None:
            raise ValidationFailed("date_range", "required")
        backfill = await backfills.create_backfill(self.ctx, principal, pipeline_id=pipeline_id, start=dates[0],
                                                   end=dates[1], parallelism=request.parallelism or 4,
                                                   force=request.force)
        return to_message(pb.Backfill, backfill)

    @unary
    async def ListBackfills(self, request: pb.ListBackfillsRequest, principal: Principal) -> pb.ListBackfillsResponse:
        rows, next_cursor = await backfills.list_backfills(
            self.ctx, principal, pipeline_id=optional_uuid("pipeline_id", request.pipeline_id),
            limit=page_size(request.limit), cursor=request.cursor or None)
        return to_message(pb.ListBackfillsResponse, {"backfills": rows, "next_cursor": next_cursor})

    @unary
    async def GetBackfill(self, request: pb.BackfillRequest, principal: Principal) -> pb.Backfill:
        backfill_id = required_uuid("backfill_id", request.backfill_id)
        return to_message(pb.Backfill, await backfills.get_backfill(self.ctx, principal, backfill_id))

    @unary
    async def PauseBackfill(self, request: pb.BackfillRequest, principal: Principal) -> pb.Backfill:
        backfill_id = required_uuid("backfill_id", request.backfill_id)
        return to_message(pb.Backfill, await backfills.pause_backfill(self.ctx, principal, backfill_id))

    @unary
    async def ResumeBackfill(self, request: pb.BackfillRequest, principal: Principal) -> pb.Backfill:
        backfill_id = required_uuid("backfill_id", request.backfill_id)
        return to_message(pb.Backfill, await backfills.resume_backfill(self.ctx, principal, backfill_id))

    @unary
    async def CancelBackfill(self, request: pb.BackfillRequest, principal: Principal) -> pb.Backfill:
        backfill_id = required_uuid("backfill_id", request.backfill_id)
        return to_message(pb.Backfill, await backfills.cancel_backfill(self.ctx, principal, backfill_id))

    # ------------------------------------------------------------------------------ quarantine

    @unary
    async def ListQuarantine(self, request: pb.ListQuarantineRequest, principal: Principal
                             ) -> pb.ListQuarantineResponse:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        page = await quarantine.list_quarantined(
            self.ctx, principal, pipeline_id, date_from=optional_date("date_from", request.date_from),
            date_to=optional_date("date_to", request.date_to), limit=page_size(request.limit, default=100,
                                                                                maximum=1000),
            offset=validation.int_range("offset", request.offset, minimum=0, maximum=10_000_000))
        return to_message(pb.ListQuarantineResponse, page)

    @unary
    async def ReplayQuarantine(self, request: pb.ReplayQuarantineRequest, principal: Principal
                               ) -> pb.TriggerResponse:
        pipeline_id = required_uuid("pipeline_id", request.pipeline_id)
        dates = date_range(request)
        if dates is None:
            raise ValidationFailed("date_range", "required")
        return _trigger_response(await quarantine.replay_quarantined(self.ctx, principal, pipeline_id,
                                                                     start=dates[0], end=dates[1]))

    # ------------------------------------------------------------------------------ organizations

    @unary
    async def CreateOrganization(self, request: pb.CreateOrganizationRequest, principal: Principal
                                 ) -> pb.CreateOrganizationResponse:
        created = await organizations.create_organization_with_key(
            self.ctx, principal, name=request.name, slug=request.slug or None, key_name=request.key_name or "default")
        return to_message(pb.CreateOrganizationResponse, created)

    @unary
    async def ListOrganizations(self, request: pb.ListOrganizationsRequest, principal: Principal
                                ) -> pb.ListOrganizationsResponse:
        rows, next_cursor = await organizations.list_organizations(self.ctx, principal, limit=page_size(request.limit),
                                                                   cursor=request.cursor or None)
        return to_message(pb.ListOrganizationsResponse, {"organizations": rows, "next_cursor": next_cursor})

    @unary
    async def GetOrganization(self, request: pb.GetOrganizationRequest, principal: Principal) -> pb.Organization:
        return to_message(pb.Organization, await organizations.get_organization(self.ctx, principal, request.org_id))

    @unary
    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, principal: Principal) -> pb.ApiKey:
        return to_message(pb.ApiKey, await api_keys.create_key(self.ctx, principal, org_id=request.org_id,
                                                               name=request.name))

    @unary
    async def ListApiKeys(self, request: pb.ListApiKeysRequest, principal: Principal) -> pb.ListApiKeysResponse:
        keys = await api_keys.list_keys(self.ctx, principal, org_id=request.org_id)
        return to_message(pb.ListApiKeysResponse, {"api_keys": keys})

    @unary
    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, principal: Principal) -> pb.ApiKey:
        key_id = required_uuid("key_id", request.key_id)
        return to_message(pb.ApiKey, await api_keys.revoke_key(self.ctx, principal, org_id=request.org_id,
                                                               key_id=key_id))

    @unary
    async def StartOnboarding(self, request: pb.StartOnboardingRequest, principal: Principal
                              ) -> pb.OnboardingStarted:
        fields: dict[str, Any] = {"org_name": request.org_name, "source_kind": request.source_kind or "dv360",
                                  "source_config": json_of(request.source_config)}
        if request.HasField("org_slug"):
            fields["org_slug"] = request.org_slug
        if request.HasField("initial_backfill_days"):
            fields["initial_backfill_days"] = request.initial_backfill_days
        if request.pipelines:
            fields["pipelines"] = [{"name": spec.name, **_pipeline_fields(spec)} for spec in request.pipelines]
        body = parse_model(onboarding.OnboardingRequest, fields)
        return to_message(pb.OnboardingStarted, await onboarding.start_onboarding(self.ctx, principal, body))

    @unary
    async def GetOnboarding(self, request: pb.GetOnboardingRequest, principal: Principal) -> pb.Onboarding:
        onboarding_id = required_uuid("onboarding_id", request.onboarding_id)
        return to_message(pb.Onboarding, await onboarding.get_onboarding(self.ctx, principal, onboarding_id))


def registrar(ctx: ServiceContext):
    """For ``start_grpc_server(registrars=[…])``: add the service, return its name (for health and reflection)."""

    def register(server: grpc.aio.Server) -> Sequence[str]:
        etl_pb2_grpc.add_EtlServiceServicer_to_server(EtlServicer(ctx), server)
        return [pb.DESCRIPTOR.services_by_name["EtlService"].full_name]

    return register
