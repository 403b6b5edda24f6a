"""Workflow starts made after the trigger answered: the ``workflow_starts`` outbox and its starter.

A trigger writes its execution and a ``workflow_starts`` row in one statement and answers
``scheduled`` at once; starting the Temporal workflow is the starter's job. That takes Temporal's
start call (a few milliseconds of server time, the larger part of a trigger) off the request, lets
a burst of triggers be absorbed at the database's pace, and makes a trigger durable even when
Temporal is down for a while: the row stays until the workflow has started, whatever process dies.

How a row is started exactly once:

- The starter claims rows ``FOR UPDATE SKIP LOCKED`` in one transaction, starts their workflows,
  deletes the started rows and commits. Several starters (API replicas, service contexts of tests)
  never start the same row concurrently.
- The triggering process starts its own rows at once (it was told their ids); until
  ``next_attempt_at`` (``LEASE_S`` after the trigger) other starters leave them alone, after that
  any starter sweeps them up: that is how a trigger whose process died still runs.
- Workflow ids are deterministic and started with conflict policy FAIL. "Already started" after a
  crash between the start and the commit is recognised by the ``execution_id`` memo of the running
  workflow and counts as started; otherwise an earlier run of the same range is still closing, and
  the start is tried again after a back-off — as after any Temporal error.
- An execution cancelled (or otherwise closed) before its start is never started: the row is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import RawValue, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from etl_orchestrator.activities.contracts import ETLInput
from etl_orchestrator.activities.orchestration_contracts import etl_search_attributes
from etl_orchestrator.db.execution_store import close_execution
from etl_orchestrator.domain.enums import ExecutionStatus

log = structlog.get_logger(__name__)

MEMO_EXECUTION_ID = "execution_id"

LEASE_S = 5.0  # the triggering process's head start before other starters sweep its rows
MAX_BACKOFF_S = 30.0
# A batch's row locks are held while its starts are in flight: an unreachable Temporal must not hold them long.
START_RPC_TIMEOUT = timedelta(seconds=10)

_EXECUTION_IDS = bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True)))
_CLAIM_COLUMNS = """
    SELECT s.execution_id, s.workflow_id, s.task_queue, s.input::text AS input, s.attempts, e.status
    FROM workflow_starts s JOIN etl_executions e ON e.id = s.execution_id
"""
CLAIM_BY_ID = text(_CLAIM_COLUMNS + """
    WHERE s.execution_id = ANY(:ids)
    FOR UPDATE OF s SKIP LOCKED
""").bindparams(_EXECUTION_IDS)
CLAIM_DUE = text(_CLAIM_COLUMNS + """
    WHERE s.next_attempt_at <= now()
    ORDER BY s.next_attempt_at
    LIMIT :limit
    FOR UPDATE OF s SKIP LOCKED
""")
DELETE_STARTED = text("DELETE FROM workflow_starts WHERE execution_id = ANY(:ids)").bindparams(_EXECUTION_IDS)
POSTPONE = text("""
    UPDATE workflow_starts
    SET attempts = attempts + 1, last_error = :error, next_attempt_at = now() + make_interval(secs => :delay)
    WHERE execution_id = :execution_id
""")
LOCK_PENDING = text("SELECT 1 FROM workflow_starts WHERE execution_id = :execution_id FOR UPDATE")
DELETE_ONE = text("DELETE FROM workflow_starts WHERE execution_id = :execution_id")


def pending_start_values(params: ETLInput, *, workflow_id: str) -> dict[str, Any]:
    """The parameters of ``INSERT_PENDING_START`` for ``params``."""
    return {"start_workflow_id": workflow_id, "start_task_queue": params.options.task_queue,
            "start_input": Jsonb(params.model_dump(mode="json")), "start_lease_s": LEASE_S}


# The INSERT (psycopg parameters) a trigger runs in the statement that records its execution:
# ``inserted`` is the CTE that returns the new execution's id and organization, which the workflow's
# input takes from there.
INSERT_PENDING_START = """
    INSERT INTO workflow_starts (execution_id, workflow_id, task_queue, input, next_attempt_at)
    SELECT id, %(start_workflow_id)s, %(start_task_queue)s,
           jsonb_set(%(start_input)s, '{org_id}', to_jsonb(org_id)),
           now() + make_interval(secs => %(start_lease_s)s)
    FROM inserted
    RETURNING execution_id
"""


@dataclass(frozen=True)
class _Claimed:
    execution_id: UUID
    workflow_id: str
    task_queue: str
    input: str  # ETLInput as JSON, the workflow's argument as it goes on the wire
    attempts: int
    status: str


def _backoff_s(attempts: int) -> float:
    return min(MAX_BACKOFF_S, 0.5 * 2 ** attempts)


class WorkflowStarter:
    """Starts the workflows of ``workflow_starts`` rows: this process's at once, others' when due."""

    def __init__(self, engine: AsyncEngine, client: Client, *, batch_size: int = 64, concurrency: int = 32,
                 sweep_interval_s: float = 1.0) -> None:
        self.engine = engine
        self.client = client
        self.batch_size = batch_size
        self.sweep_interval_s = sweep_interval_s
        self._limit = asyncio.Semaphore(concurrency)
        self._mine: dict[UUID, None] = {}  # ids this process recorded, oldest first
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rate = 100.0  # starts per second, smoothed: what ``estimated_start`` divides the backlog by

    # ------------------------------------------------------------------------------ for triggers

    def submit(self, execution_id: UUID) -> None:
        """A trigger committed this execution's start: start it now (from this process's loop)."""
        self._mine[execution_id] = None
        self._wake.set()
        self.ensure_running()

    def estimated_start(self, now: datetime) -> datetime:
        """When a start submitted now should happen, given the backlog and the recent start rate."""
        return now + timedelta(seconds=len(self._mine) / self._rate)

    # ------------------------------------------------------------------------------ the loop

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="workflow-starter")

    async def aclose(self, *, drain_s: float = 5.0) -> None:
        """Start what this process was asked to (for up to ``drain_s``), then stop. What is left stays
        in ``workflow_starts`` for another starter."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                while self._mine and not self._task.done():
                    await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None

    async def _run(self) -> None:
        next_sweep = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_sweep - time.monotonic())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while self._mine:
                    ids = list(self._mine)[: self.batch_size]
                    await self._start_batch(CLAIM_BY_ID, {"ids": ids})
                    for execution_id in ids:  # started, postponed, or claimed by another starter
                        self._mine.pop(execution_id, None)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_interval_s
                    while await self._start_batch(CLAIM_DUE, {"limit": self.batch_size}) == self.batch_size:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: everything stays in the table; try again
                log.warning("workflow starts postponed", error=str(exc))
                await asyncio.sleep(self.sweep_interval_s)
                self._wake.set()

    async def _start_batch(self, claim: Any, params: dict[str, Any]) -> int:
        """Claim rows, start their workflows, record the outcome; one transaction. Returns rows claimed."""
        began = time.perf_counter()
        async with self.engine.begin() as conn:
            rows = [_Claimed(**row) for row in (await conn.execute(claim, params)).mappings()]
            if not rows:
                return 0
            outcomes = await asyncio.gather(*(self._start(row) for row in rows))
            done = [row.execution_id for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
            if done:
                await conn.execute(DELETE_STARTED, {"ids": done})
            for row, outcome in zip(rows, outcomes, strict=True):
                if isinstance(outcome, str):
                    await conn.execute(POSTPONE, {"execution_id": row.execution_id, "error": outcome[:2000],
                                                  "delay": _backoff_s(row.attempts)})
                elif isinstance(outcome, Exception):
                    await self._fail(conn, row, outcome)
                    await conn.execute(DELETE_ONE, {"execution_id": row.execution_id})
        if done:
            rate = len(done) / max(time.perf_counter() - began, 1e-3)
            self._rate = max(10.0, 0.8 * self._rate + 0.2 * rate)
        return len(rows)

    async def _start(self, row: _Claimed) -> str | Exception | None:
        """None when the workflow runs (or need not), a message to retry later, an exception to fail on."""
        if row.status != ExecutionStatus.SCHEDULED.value:
            return None  # cancelled (or closed) before it started: nothing to start
        try:
            fields = json.loads(row.input)
            attributes = etl_search_attributes(int(fields["org_id"]), UUID(fields["pipeline_id"]),
                                               date.fromisoformat(fields["start"]))
        except (ValueError, KeyError, TypeError) as exc:
            return exc
        # The JSON goes to the workflow as it is (what the pydantic converter would have made of the
        # ETLInput the trigger serialised): rebuilding the model only to serialise it again was about
        # 40 % of the starter's CPU in a profile under load.
        argument = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=row.input.encode()))
        async with self._limit:
            try:
                await self.client.start_workflow(
                    "ETLWorkflow", argument, id=row.workflow_id, task_queue=row.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    search_attributes=attributes, memo={MEMO_EXECUTION_ID: str(row.execution_id)},
                    rpc_timeout=START_RPC_TIMEOUT)
            except WorkflowAlreadyStartedError:
                if await self._runs_already(row):
                    return None
                return "an earlier run of this range is still closing"
            except RPCError as exc:
                log.warning("workflow start failed; will retry", workflow_id=row.workflow_id, error=exc.message)
                return f"Temporal refused the start: {exc.message}"
        return None

    async def _runs_already(self, row: _Claimed) -> bool:
        """Whether the running workflow with this id is this execution's (started before a lost commit)."""
        try:
            memo = await (await self.client.get_workflow_handle(row.workflow_id).describe()).memo()
        except RPCError:
            return False
        return memo.get(MEMO_EXECUTION_ID) == str(row.execution_id)

    @staticmethod
    async def _fail(conn: AsyncConnection, row: _Claimed, error: Exception) -> None:
        log.error("workflow start impossible; execution failed", execution_id=str(row.execution_id), error=str(error))
        message = f"the workflow could not be started: {error}"
        await conn.run_sync(lambda sync_conn: close_execution(sync_conn, row.execution_id, error=message))


async def cancel_pending_start(engine: AsyncEngine, execution_id: UUID) -> bool:
    """Close a scheduled execution whose workflow has not started, and drop its start. False when
    there is no pending start (the workflow runs, or is starting: the caller cancels it in Temporal)."""
    async with engine.begin() as conn:
        # Waits while a starter holds the row: after its commit the row is gone and the workflow runs.
        if (await conn.execute(LOCK_PENDING, {"execution_id": execution_id})).first() is None:
            return False
        await conn.run_sync(lambda sync_conn: close_execution(sync_conn, execution_id, cancelled=True))
        await conn.execute(DELETE_ONE, {"execution_id": execution_id})
    return True
