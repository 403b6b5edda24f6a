"""A one-activity workflow for the tracing test (module level: the workflow sandbox re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from opentelemetry import trace
from temporalio import activity, workflow


@activity.defn
async def traced_activity(name: str) -> str:
    """Returns the trace id current inside the activity, as a log line would see it."""
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


@workflow.defn
class TracedWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(traced_activity, name, start_to_close_timeout=timedelta(seconds=10))
