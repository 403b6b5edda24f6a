"""Report runs of every source: lifecycle, file generation, disk cache and signed download URLs.

A run (DV360 ``queries.run``, a TTD report execution) becomes a ``Report``. Its file is generated
in a worker thread right away; its state is a function of time — ``QUEUED`` for the first 40 % of
the report delay, ``RUNNING`` until the delay is over, then ``DONE`` (the first status request
after the delay waits for the file if it is not written yet) or ``FAILED``. With delay 0 a report
is ``DONE`` at the first status request.

Files are kept up to ``max_cache_bytes``; the least recently used are deleted and regenerated on
demand, byte for byte, because a report remembers everything its file is made from (including the
pull numbers that decide restatement drift).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import secrets
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from etl_orchestrator.sandbox.faults import BadRows
from etl_orchestrator.sandbox.generator import (
    BlockCache,
    DayPlan,
    ReportFile,
    ReportLayout,
    advertiser_rows,
    plan_day,
    write_report,
)
from etl_orchestrator.sandbox.hierarchy import Hierarchy
from etl_orchestrator.sandbox.settings import SandboxSettings

log = logging.getLogger(__name__)

_QUEUED_SHARE = 0.4


def scratch_root(expected_bytes: int) -> str | None:
    """Where temporary report files should go: RAM (``/dev/shm``) when it has room, so generated
    reports never compete with the pipeline for the disk; else the system's temporary directory."""
    shared_memory = Path("/dev/shm")
    if shared_memory.is_dir() and shutil.disk_usage(shared_memory).free > 2 * expected_bytes:
        return str(shared_memory)
    return None


class ReportState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True)
class RunRequest:
    """One run as a route asks for it: a DV360 ``queries.run`` or a TTD schedule's execution."""

    source: str
    parent_id: str  # the query or schedule id
    token: str  # the fault scope
    layout: ReportLayout
    advertiser_ids: tuple[str, ...]
    start: date
    end: date


@dataclass(frozen=True)
class ReportContent:
    """Everything a report's file is made from, so it can be regenerated identically."""

    layout: ReportLayout
    advertiser_ids: tuple[str, ...]
    days: tuple[DayPlan, ...]
    bad_rows: BadRows
    today: date


@dataclass
class Report:
    report_id: str
    parent_id: str
    source: str
    token: str
    content: ReportContent
    start: date
    end: date
    delay_s: float
    fail: bool
    created_monotonic: float
    created_at: datetime
    generation: asyncio.Future[ReportFile] | None = None
    active_downloads: int = 0
    last_used: float = field(default_factory=time.monotonic)
    generation_error: str | None = None

    @property
    def finish_time(self) -> datetime:
        return self.created_at + timedelta(seconds=self.delay_s)


class ReportStore:
    def __init__(self, *, settings: SandboxSettings, hierarchy: Hierarchy, data_dir: Path) -> None:
        self._settings = settings
        self._hierarchy = hierarchy
        self._data_dir = data_dir
        self._pool = ThreadPoolExecutor(max_workers=settings.generation_threads, thread_name_prefix="report")
        self._blocks = BlockCache()
        self._secret = secrets.token_bytes(32)
        self._pulls: Counter[tuple[str, str, tuple[str, ...], date]] = Counter()
        self._ids = itertools.count(1)
        self._id_base = 1_000_000_000 + (settings.seed % 1000) * 1_000_000
        self.reports: dict[str, Report] = {}

    def new_id(self) -> str:
        """int64 ids as decimal strings, as Google's JSON writes them."""
        return str(self._id_base + next(self._ids))

    def today(self) -> date:
        return self._settings.today or datetime.now(UTC).date()

    def start(self, run: RunRequest, *, bad_rows: BadRows, delay_s: float, fail: bool) -> Report:
        """Register a run and start generating its file (unless it is scripted to fail)."""
        today = self.today()
        days = []
        for offset in range((run.end - run.start).days + 1):
            day = run.start + timedelta(days=offset)
            pull_key = (run.source, run.token, tuple(sorted(run.advertiser_ids)), day)
            self._pulls[pull_key] += 1
            days.append(
                plan_day(day, today=today, pull=self._pulls[pull_key], drift=self._settings.restatement_drift)
            )
        content = ReportContent(
            layout=run.layout,
            advertiser_ids=run.advertiser_ids,
            days=tuple(days),
            bad_rows=bad_rows,
            today=today,
        )
        report = Report(
            report_id=self.new_id(),
            parent_id=run.parent_id,
            source=run.source,
            token=run.token,
            content=content,
            start=run.start,
            end=run.end,
            delay_s=delay_s,
            fail=fail,
            created_monotonic=time.monotonic(),
            created_at=datetime.now(UTC),
        )
        self.reports[report.report_id] = report
        if not fail:
            self._generate(report)
        return report

    async def state(self, report: Report) -> ReportState:
        elapsed = time.monotonic() - report.created_monotonic
        if elapsed < report.delay_s * _QUEUED_SHARE:
            return ReportState.QUEUED
        if elapsed < report.delay_s:
            return ReportState.RUNNING
        if report.fail:
            return ReportState.FAILED
        try:
            await self.file(report)
        except Exception:  # a generation bug (logged by _write) shows as a FAILED report, like DV360's own
            return ReportState.FAILED
        return ReportState.DONE

    async def file(self, report: Report) -> ReportFile:
        """The report's file, generated again if the cache evicted it."""
        if report.generation is None:  # never started (a failed run) or evicted
            self._generate(report)
        assert report.generation is not None
        written = await asyncio.shield(report.generation)
        report.last_used = time.monotonic()
        return written

    def _generate(self, report: Report) -> None:
        loop = asyncio.get_running_loop()
        report.generation = loop.run_in_executor(self._pool, self._write, report)
        report.generation.add_done_callback(lambda _: self._evict(keep=report))

    def _write(self, report: Report) -> ReportFile:
        content = report.content
        directory = self._data_dir / report.report_id
        shutil.rmtree(directory, ignore_errors=True)
        rows = advertiser_rows(
            self._blocks.rows(self._hierarchy, content.layout),
            self._hierarchy.selected(content.advertiser_ids),
        )
        started = time.perf_counter()
        try:
            written = write_report(
                directory,
                layout=content.layout,
                rows=rows,
                days=content.days,
                bad_rows=content.bad_rows,
                seed=self._hierarchy.seed,
                today=content.today,
            )
        except Exception as exc:
            report.generation_error = repr(exc)
            log.exception("generating report %s failed", report.report_id)
            raise
        elapsed = time.perf_counter() - started
        log.info(
            "report %s: %d rows, %d bytes in %.3fs (%.0f rows/s)",
            report.report_id,
            written.rows,
            written.size,
            elapsed,
            written.rows / elapsed if elapsed else 0,
        )
        return written

    def _evict(self, *, keep: Report) -> None:
        """Delete least recently used files beyond the cache size (never one being downloaded)."""
        on_disk = [
            report
            for report in self.reports.values()
            if report.generation is not None
            and report.generation.done()
            and not report.generation.cancelled()
            and report.generation.exception() is None
        ]
        total = sum(report.generation.result().size for report in on_disk if report.generation is not None)
        for report in sorted(on_disk, key=lambda candidate: candidate.last_used):
            if total <= self._settings.max_cache_bytes:
                break
            if report is keep or report.active_downloads:
                continue
            assert report.generation is not None
            written = report.generation.result()
            written.delete()
            total -= written.size
            report.generation = None

    # -- signed download URLs ----------------------------------------------------------------------

    def signature(self, report_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{report_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def download_query(self, report_id: str) -> str:
        expires = int(time.time()) + self._settings.download_url_ttl_s
        return (
            f"GoogleAccessId=sandbox%40dsp-sandbox.iam.gserviceaccount.com&Expires={expires}"
            f"&Signature={self.signature(report_id, expires)}"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
