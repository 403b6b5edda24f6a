"""Every RPC of ``etl.v1.EtlService`` against the API process's gRPC port, with the status codes
REST answers with (UNAUTHENTICATED, NOT_FOUND, INVALID_ARGUMENT naming the field, ALREADY_EXISTS,
FAILED_PRECONDITION), plus the standard health service and server reflection."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from etl_orchestrator.api.grpc.protos import etl_pb2 as pb
from tests.grpc.conftest import auth
from tests.support import create_tenant


async def expect_error(call, code: grpc.StatusCode, field: str | None = None) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    if field is not None:
        assert dict(caught.value.trailing_metadata() or ())["field"] == field
        assert caught.value.details().startswith(f"{field}: ")
    return caught.value


async def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "etl.v1.EtlService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="etl.v1.EtlService")]
    answers = [answer async for answer in reflection.ServerReflectionInfo(iter(requests))]
    services = {service.name for service in answers[0].list_services_response.service}
    assert {"etl.v1.EtlService", "grpc.health.v1.Health"} <= services
    assert answers[1].file_descriptor_response.file_descriptor_proto


async def test_a_missing_or_revoked_key_is_unauthenticated(stub):
    await expect_error(stub.ListExecutions(pb.ListExecutionsRequest()), grpc.StatusCode.UNAUTHENTICATED)
    await expect_error(stub.ListExecutions(pb.ListExecutionsRequest(), metadata=auth("etl_nope")),
                       grpc.StatusCode.UNAUTHENTICATED)
    await expect_error(stub.ListExecutions(pb.ListExecutionsRequest(), metadata=(("authorization", "Basic x"),)),
                       grpc.StatusCode.UNAUTHENTICATED)


async def test_trigger_watch_get_list_logs_quality(stub, tenant):
    metadata = auth(tenant.key)
    triggered = await stub.Trigger(pb.TriggerRequest(
        pipeline_id=tenant.pipeline_id, date_range=pb.DateRange(start="2024-10-20", end="2024-10-20")),
        metadata=metadata)
    assert triggered.status == "scheduled" and triggered.estimated_start.seconds > 0
    again = await stub.Trigger(pb.TriggerRequest(pipeline_id=tenant.pipeline_id,
                                                 date_range=pb.DateRange(start="2024-10-20", end="2024-10-20")),
                               metadata=metadata)
    assert again.execution_id == triggered.execution_id  # idempotent while live or complete

    watched = [execution async for execution in stub.WatchExecution(
        pb.WatchExecutionRequest(execution_id=triggered.execution_id), metadata=metadata, timeout=60)]
    assert watched[-1].status == "completed" and watched[0].id == triggered.execution_id
    assert watched[-1].layer_progress["gold"].done == 1 and watched[-1].layers.gold.tables_updated

    execution = await stub.GetExecution(pb.GetExecutionRequest(execution_id=triggered.execution_id), metadata=metadata)
    assert execution.status == "completed" and execution.org_id == tenant.org_id
    assert execution.layers.bronze.records > 0 and execution.date_range.start == "2024-10-20"
    assert execution.partitions["2024-10-20"]["invariant"]["holds"] is True
    listed = await stub.ListExecutions(pb.ListExecutionsRequest(status="completed", limit=10), metadata=metadata)
    assert [item.id for item in listed.executions] == [triggered.execution_id] and listed.next_cursor == ""
    logs = await stub.GetExecutionLogs(pb.GetExecutionLogsRequest(execution_id=triggered.execution_id),
                                       metadata=metadata)
    assert "Started data ingestion from DV360" in [line.message for line in logs.logs]
    quality = await stub.GetDataQuality(pb.GetDataQualityRequest(window="7d"), metadata=metadata)
    assert quality.quality_metrics["last_7d"].total_records > 0
    assert [entry.pipeline_id for entry in quality.by_pipeline] == [tenant.pipeline_id]

    await expect_error(stub.CancelExecution(pb.CancelExecutionRequest(execution_id=triggered.execution_id),
                                            metadata=metadata), grpc.StatusCode.FAILED_PRECONDITION)
    await expect_error(stub.RetryExecution(pb.RetryExecutionRequest(execution_id=triggered.execution_id),
                                           metadata=metadata), grpc.StatusCode.FAILED_PRECONDITION)


async def test_cancel_then_retry(stub, tenant):
    metadata = auth(tenant.key)
    triggered = await stub.Trigger(pb.TriggerRequest(
        pipeline_id=tenant.pipeline_id, date_range=pb.DateRange(start="2023-08-01", end="2023-08-04")),
        metadata=metadata)
    cancelled = await stub.CancelExecution(pb.CancelExecutionRequest(execution_id=triggered.execution_id),
                                           metadata=metadata)
    assert cancelled.cancel_requested
    final = [execution async for execution in stub.WatchExecution(
        pb.WatchExecutionRequest(execution_id=triggered.execution_id), metadata=metadata, timeout=30)][-1]
    assert final.status == "cancelled"
    retried = await stub.RetryExecution(pb.RetryExecutionRequest(execution_id=triggered.execution_id),
                                        metadata=metadata)
    assert retried.execution_id != triggered.execution_id
    await stub.CancelExecution(pb.CancelExecutionRequest(execution_id=retried.execution_id), metadata=metadata)


@pytest.mark.parametrize(("call", "field"), [
    (lambda stub, t: stub.Trigger(pb.TriggerRequest(pipeline_id="nope"), metadata=auth(t.key)), "pipeline_id"),
    (lambda stub, t: stub.Trigger(pb.TriggerRequest(
        pipeline_id=t.pipeline_id, date_range=pb.DateRange(start="2024-01-05", end="2024-01-01")),
        metadata=auth(t.key)), "date_range.end"),
    (lambda stub, t: stub.Trigger(pb.TriggerRequest(
        pipeline_id=t.pipeline_id, date_range=pb.DateRange(start="2024-13-01", end="2024-12-01")),
        metadata=auth(t.key)), "date_range.start"),
    (lambda stub, t: stub.ListExecutions(pb.ListExecutionsRequest(status="exploded"), metadata=auth(t.key)),
     "status"),
    (lambda stub, t: stub.ListExecutions(pb.ListExecutionsRequest(date_from="2024-02-02", date_to="2024-02-01"),
                                         metadata=auth(t.key)), "date_from"),
    (lambda stub, t: stub.ListExecutions(pb.ListExecutionsRequest(cursor="%%%"), metadata=auth(t.key)), "cursor"),
    (lambda stub, t: stub.ListExecutions(pb.ListExecutionsRequest(limit=501), metadata=auth(t.key)), "limit"),
    (lambda stub, t: stub.GetExecution(pb.GetExecutionRequest(), metadata=auth(t.key)), "execution_id"),
    (lambda stub, t: stub.GetDataQuality(pb.GetDataQualityRequest(window="forever"), metadata=auth(t.key)),
     "window"),
    (lambda stub, t: stub.CreatePipeline(pb.CreatePipelineRequest(name="x", source_kind="myspace"),
                                         metadata=auth(t.key)), "source_kind"),
    (lambda stub, t: stub.ListQuarantine(pb.ListQuarantineRequest(pipeline_id=t.pipeline_id, date_to="soon"),
                                         metadata=auth(t.key)), "date_to"),
    (lambda stub, t: stub.CreateBackfill(pb.CreateBackfillRequest(pipeline_id=t.pipeline_id), metadata=auth(t.key)),
     "date_range"),
    (lambda stub, t: stub.ListQuarantine(pb.ListQuarantineRequest(pipeline_id=t.pipeline_id, offset=-1),
                                         metadata=auth(t.key)), "offset"),
    (lambda stub, t: stub.RevokeApiKey(pb.RevokeApiKeyRequest(org_id=t.org_id, key_id="k"), metadata=auth(t.key)),
     "key_id"),
])
async def test_malformed_requests_are_invalid_argument_naming_the_field(stub, tenant, call, field):
    await expect_error(call(stub, tenant), grpc.StatusCode.INVALID_ARGUMENT, field)


async def test_pipeline_crud_and_schedule(stub, tenant, dsp_sandbox):
    metadata = auth(tenant.key)
    request = pb.CreatePipelineRequest(name=f"gRPC {uuid.uuid4().hex[:8]}", source_kind="dv360",
                                       schedule_cron="0 6 * * *", webhook_secret="s3cret")
    request.source_config.update({"base_url": dsp_sandbox.url, "token": dsp_sandbox.token, "timeout_s": 30})
    created = await stub.CreatePipeline(request, metadata=metadata)
    assert created.schedule_state == "active" and created.webhook_secret_set
    assert dict(created.source_config) == {"base_url": dsp_sandbox.url, "token": "********", "timeout_s": 30}
    await expect_error(stub.CreatePipeline(request, metadata=metadata), grpc.StatusCode.ALREADY_EXISTS)
    bad_cron = pb.CreatePipelineRequest()
    bad_cron.CopyFrom(request)
    bad_cron.name, bad_cron.schedule_cron = "other", "every day"
    await expect_error(stub.CreatePipeline(bad_cron, metadata=metadata), grpc.StatusCode.INVALID_ARGUMENT,
                       "schedule_cron")

    schedule = await stub.GetSchedule(pb.ScheduleRequest(pipeline_id=created.id), metadata=metadata)
    assert schedule.state == "active" and len(schedule.next_runs) == 5
    paused = await stub.PauseSchedule(pb.PauseScheduleRequest(pipeline_id=created.id, note="why not"),
                                      metadata=metadata)
    assert (paused.state, paused.note) == ("paused", "why not")
    assert (await stub.ResumeSchedule(pb.ScheduleRequest(pipeline_id=created.id), metadata=metadata)).state == "active"

    updated = await stub.UpdatePipeline(pb.UpdatePipelineRequest(pipeline_id=created.id, schedule_cron="",
                                                                 restatement_days=3), metadata=metadata)
    assert updated.schedule_state == "none" and not updated.HasField("schedule_cron")
    assert updated.restatement_days == 3
    listed = await stub.ListPipelines(pb.ListPipelinesRequest(), metadata=metadata)
    assert {pipeline.id for pipeline in listed.pipelines} == {created.id, tenant.pipeline_id}
    await stub.DeletePipeline(pb.DeletePipelineRequest(pipeline_id=created.id), metadata=metadata)
    await expect_error(stub.GetPipeline(pb.GetPipelineRequest(pipeline_id=created.id), metadata=metadata),
                       grpc.StatusCode.NOT_FOUND)


async def test_trigger_schedule_fires_a_scheduled_execution(stub, tenant, dsp_sandbox):
    metadata = auth(tenant.key)
    request = pb.CreatePipelineRequest(name=f"Fired {uuid.uuid4().hex[:8]}", source_kind="dv360",
                                       schedule_cron="0 0 1 1 *", restatement_days=0)
    request.source_config.update({"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    created = await stub.CreatePipeline(request, metadata=metadata)
    fired = await stub.TriggerSchedule(pb.ScheduleRequest(pipeline_id=created.id), metadata=metadata)
    assert fired.triggered_at.seconds > 0
    for _ in range(300):
        listed = await stub.ListExecutions(pb.ListExecutionsRequest(pipeline_id=created.id), metadata=metadata)
        if listed.executions:
            break
        await asyncio.sleep(0.1)
    [execution] = listed.executions
    detail = await stub.GetExecution(pb.GetExecutionRequest(execution_id=execution.id), metadata=metadata)
    assert detail.trigger == "schedule"


async def test_backfills_and_quarantine(stub, tenant):
    metadata = auth(tenant.key)
    backfill = await stub.CreateBackfill(pb.CreateBackfillRequest(
        pipeline_id=tenant.pipeline_id, date_range=pb.DateRange(start="2024-07-01", end="2024-07-02"), parallelism=2),
        metadata=metadata)
    assert backfill.status == "running" and backfill.progress.total == 2
    for _ in range(300):
        current = await stub.GetBackfill(pb.BackfillRequest(backfill_id=backfill.backfill_id), metadata=metadata)
        if current.status != "running":
            break
        await asyncio.sleep(0.1)
    assert current.status == "completed" and current.progress.done == 2
    listed = await stub.ListBackfills(pb.ListBackfillsRequest(pipeline_id=tenant.pipeline_id), metadata=metadata)
    assert [item.backfill_id for item in listed.backfills] == [backfill.backfill_id]
    await expect_error(stub.PauseBackfill(pb.BackfillRequest(backfill_id=backfill.backfill_id), metadata=metadata),
                       grpc.StatusCode.FAILED_PRECONDITION)

    page = await stub.ListQuarantine(pb.ListQuarantineRequest(pipeline_id=tenant.pipeline_id), metadata=metadata)
    assert page.total == 0 and page.limit == 100
    replay = await stub.ReplayQuarantine(pb.ReplayQuarantineRequest(
        pipeline_id=tenant.pipeline_id, date_range=pb.DateRange(start="2024-07-01", end="2024-07-01")),
        metadata=metadata)
    replayed = await stub.GetExecution(pb.GetExecutionRequest(execution_id=replay.execution_id), metadata=metadata)
    assert (replayed.mode, replayed.trigger) == ("replay", "replay")


async def test_organizations_keys_and_onboarding(stub, tenant, admin_metadata, dsp_sandbox):
    await expect_error(stub.ListOrganizations(pb.ListOrganizationsRequest(), metadata=auth(tenant.key)),
                       grpc.StatusCode.NOT_FOUND)
    slug = f"grpc-{uuid.uuid4().hex[:8]}"
    created = await stub.CreateOrganization(pb.CreateOrganizationRequest(name="gRPC Org", slug=slug),
                                            metadata=admin_metadata)
    assert created.api_key.key.startswith("etl_") and created.organization.slug == slug
    await expect_error(stub.CreateOrganization(pb.CreateOrganizationRequest(name="again", slug=slug),
                                               metadata=admin_metadata), grpc.StatusCode.ALREADY_EXISTS)
    org_metadata = auth(created.api_key.key)
    org_id = created.organization.id
    assert (await stub.GetOrganization(pb.GetOrganizationRequest(org_id=org_id), metadata=admin_metadata)).slug == slug
    second = await stub.CreateApiKey(pb.CreateApiKeyRequest(org_id=org_id, name="second"), metadata=org_metadata)
    keys = await stub.ListApiKeys(pb.ListApiKeysRequest(org_id=org_id), metadata=org_metadata)
    assert {key.name for key in keys.api_keys} == {"default", "second"} and all(not k.key for k in keys.api_keys)
    revoked = await stub.RevokeApiKey(pb.RevokeApiKeyRequest(org_id=org_id, key_id=second.id), metadata=org_metadata)
    assert revoked.revoked_at.seconds > 0
    await expect_error(stub.ListPipelines(pb.ListPipelinesRequest(), metadata=auth(second.key)),
                       grpc.StatusCode.UNAUTHENTICATED)
    await expect_error(stub.ListApiKeys(pb.ListApiKeysRequest(org_id=org_id), metadata=auth(tenant.key)),
                       grpc.StatusCode.NOT_FOUND)

    request = pb.StartOnboardingRequest(org_name="gRPC Onboarded", org_slug=f"{slug}-onb", initial_backfill_days=0,
                                        pipelines=[pb.OnboardingPipeline(name="Hourly", schedule_cron="0 * * * *")])
    request.source_config.update({"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    started = await stub.StartOnboarding(request, metadata=admin_metadata)
    for _ in range(300):
        onboarding = await stub.GetOnboarding(pb.GetOnboardingRequest(onboarding_id=started.onboarding_id),
                                              metadata=admin_metadata)
        if onboarding.status != "running":
            break
        await asyncio.sleep(0.1)
    assert onboarding.status == "completed" and onboarding.api_key.startswith("etl_")
    assert len(onboarding.pipeline_ids) == 1
    await expect_error(stub.StartOnboarding(request, metadata=auth(tenant.key)), grpc.StatusCode.NOT_FOUND)


async def test_another_orgs_resources_are_not_found(stub, tenant, stack, dsp_sandbox):
    other = await create_tenant(stack.settings.database.url,
                                source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    metadata = auth(tenant.key)
    foreign = other.pipeline_id
    for call in (stub.GetPipeline(pb.GetPipelineRequest(pipeline_id=foreign), metadata=metadata),
                 stub.Trigger(pb.TriggerRequest(pipeline_id=foreign), metadata=metadata),
                 stub.UpdatePipeline(pb.UpdatePipelineRequest(pipeline_id=foreign, name="x"), metadata=metadata),
                 stub.DeletePipeline(pb.DeletePipelineRequest(pipeline_id=foreign), metadata=metadata),
                 stub.GetSchedule(pb.ScheduleRequest(pipeline_id=foreign), metadata=metadata),
                 stub.ListQuarantine(pb.ListQuarantineRequest(pipeline_id=foreign), metadata=metadata),
                 stub.CreateBackfill(pb.CreateBackfillRequest(
                     pipeline_id=foreign, date_range=pb.DateRange(start="2024-01-01", end="2024-01-01")),
                     metadata=metadata),
                 stub.GetOrganization(pb.GetOrganizationRequest(org_id=other.org_id), metadata=metadata),
                 stub.ListApiKeys(pb.ListApiKeysRequest(org_id=other.org_id), metadata=metadata)):
        await expect_error(call, grpc.StatusCode.NOT_FOUND)
    listed = await stub.ListExecutions(pb.ListExecutionsRequest(pipeline_id=foreign), metadata=metadata)
    assert list(listed.executions) == []
