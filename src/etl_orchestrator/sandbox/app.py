"""The sandbox's FastAPI application: state, routers, error bodies, start-up and clean-up."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from etl_orchestrator.sandbox.api_errors import install_error_handlers
from etl_orchestrator.sandbox.faults import FaultBook
from etl_orchestrator.sandbox.hierarchy import build_hierarchy
from etl_orchestrator.sandbox.numbers import warm_tables
from etl_orchestrator.sandbox.reports import ReportStore, scratch_root
from etl_orchestrator.sandbox.routes import admin, dv360_entities, dv360_reporting, storage, ttd
from etl_orchestrator.sandbox.settings import SandboxSettings
from etl_orchestrator.sandbox.state import SandboxState

log = logging.getLogger(__name__)


def create_app(settings: SandboxSettings) -> FastAPI:
    """A sandbox app for these settings; its state is built at start-up (the lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = settings.data_dir is None
        data_dir = (
            Path(tempfile.mkdtemp(prefix="dsp-sandbox-", dir=scratch_root(settings.max_cache_bytes)))
            if owned
            else Path(str(settings.data_dir))
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        hierarchy = await asyncio.to_thread(
            build_hierarchy, settings.seed, settings.rows_per_day, settings.advertiser_count
        )
        reports = ReportStore(settings=settings, hierarchy=hierarchy, data_dir=data_dir)
        app.state.sandbox = SandboxState(
            settings=settings,
            hierarchy=hierarchy,
            reports=reports,
            faults=FaultBook(seed=settings.seed, rules=settings.faults, bad_rows=settings.bad_rows),
        )
        # The number tables take a second to build; do it now rather than in the first report.
        warming = asyncio.create_task(asyncio.to_thread(warm_tables))
        log.info(
            "DSP sandbox: partner %s, %d advertisers, %d rows/day, data in %s",
            hierarchy.partner_id,
            len(hierarchy.advertisers),
            settings.rows_per_day,
            data_dir,
        )
        try:
            yield
        finally:
            warming.cancel()
            reports.close()
            if owned:
                shutil.rmtree(data_dir, ignore_errors=True)

    app = FastAPI(
        title="DSP sandbox",
        version="1",
        lifespan=lifespan,
        description="DV360 (Bid Manager v2, DV360 v4) and The Trade Desk look-alike with synthetic data "
        "and fault injection.",
    )
    install_error_handlers(app)
    for router in (admin.router, dv360_reporting.router, dv360_entities.router, storage.router, ttd.router):
        app.include_router(router)
    return app
