"""The one interface every report source implements, and the types it speaks.

A connector lands a report's raw bytes; it never parses them (that is Silver's job). The workflow
drives it in steps so every wait is a durable timer, never a sleep inside an activity:

1. ``request_report(report_date)`` — create and run the report, then check its status once, so a
   fast report is ``DONE`` without a poll.
2. ``report_status(handle)`` — exactly one status request; never sleeps. ``QUEUED`` or ``RUNNING``
   means "ask again later"; a report the source says FAILED raises ``DataError``.
3. ``download(handle, dest, resume_from=…, on_progress=…)`` — stream to ``dest + ".partial"``,
   verify the byte count, rename to ``dest`` atomically. A cut connection raises ``NetworkError``
   and leaves only the partial file, which a retry resumes with ``resume_from``.

``insertion_orders()`` returns the budgets for pacing (``[]`` for sources without them); an
activity that must survive a failure half-way uses its two steps instead: ``budget_advertisers()``
then ``advertiser_insertion_orders(advertiser_id)`` for each.

Steps of one call can be resumed: ``request_report`` reports each finished request to ``on_step``
(e.g. ``{"query_id": …}`` once the query exists) and, given that dict back as ``resume``, skips what
was done — a retry never creates a second query for the same day.
Every method raises only the taxonomy of ``domain/errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from etl_orchestrator.domain.budgets import InsertionOrder
from etl_orchestrator.domain.enums import SourceKind

REPORT_STATES = ("QUEUED", "RUNNING", "DONE", "FAILED")

ProgressCallback = Callable[[int], None]
"""Called with the bytes landed so far (including resumed ones), after each chunk."""

StepCallback = Callable[[dict[str, Any]], None]
"""Called with the ids a multi-request call has obtained so far; handed back as ``resume``."""


class ReportHandle(BaseModel):
    """Where a requested report is; small and JSON-safe, so it travels in workflow payloads."""

    model_config = ConfigDict(frozen=True)

    source: SourceKind
    report_date: date | None = Field(None, description="The day reported on (context for errors and logs).")
    query_id: str | None = None
    report_id: str | None = None
    state: str = Field(description="QUEUED | RUNNING | DONE (a FAILED report raises DataError instead)")
    download_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state == "DONE"


class DownloadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    bytes: int
    resumed_from: int = Field(0, description="Bytes kept from an earlier partial download.")


@runtime_checkable
class Connector(Protocol):
    kind: SourceKind

    async def check_credentials(self) -> None:
        """Raise SourceAuthError (or DataError for a wrong account or path) if the source refuses us."""

    async def request_report(self, report_date: date, *, resume: dict[str, Any] | None = None,
                             on_step: StepCallback | None = None) -> ReportHandle:
        """Create and start the report of one day, then check its status once."""

    async def report_status(self, handle: ReportHandle) -> ReportHandle:
        """One status check; never sleeps."""

    async def download(
        self,
        handle: ReportHandle,
        dest: Path,
        *,
        resume_from: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Land the report's bytes at ``dest`` (atomically, verified)."""

    async def insertion_orders(self) -> list[InsertionOrder]:
        """Budgets and flights of the source's insertion orders; ``[]`` if it has none."""

    async def budget_advertisers(self) -> list[str]:
        """Advertisers whose insertion orders carry budgets; ``[]`` for sources without budgets."""

    async def advertiser_insertion_orders(self, advertiser_id: str) -> list[InsertionOrder]:
        """One advertiser's insertion orders (one step of ``insertion_orders``)."""

    async def aclose(self) -> None:
        """Release connections."""
