"""Measure report generation: ``python -m etl_orchestrator.sandbox.bench --rows-per-day 1000000 --days 3``.

Writes DV360 reports (every column, one day each, no advertiser filter) into a temporary
directory (in /dev/shm when it has room), like the sandbox does for a run, and prints rows/s and
MB/s per report and overall.
The first report pays for rendering the names (cached afterwards), so it is reported apart.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from etl_orchestrator.sandbox.dv360_report import DIMENSIONS, METRICS, Dv360Layout
from etl_orchestrator.sandbox.faults import BadRows
from etl_orchestrator.sandbox.generator import BlockCache, plan_day, write_report
from etl_orchestrator.sandbox.hierarchy import build_hierarchy
from etl_orchestrator.sandbox.numbers import warm_tables
from etl_orchestrator.sandbox.reports import scratch_root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    hierarchy = build_hierarchy(args.seed, args.rows_per_day, 12)
    warm_tables()
    print(f"hierarchy and tables: {time.perf_counter() - started:.2f}s")
    group_bys = tuple(name for name in DIMENSIONS if name != "FILTER_ADVERTISER_TIMEZONE")
    blocks = BlockCache()
    today = date.today()
    total_rows = total_bytes = 0
    total_seconds = total_cpu = 0.0
    with tempfile.TemporaryDirectory(dir=scratch_root(2 * 400 * args.rows_per_day)) as scratch:
        for index in range(args.days + 1):
            day = today - timedelta(days=30 + index)
            layout = Dv360Layout(
                group_bys=group_bys,
                metrics=tuple(METRICS),
                header_variant=0,
                report_time=datetime.now(),
                start=day,
                end=day,
                advertiser_filter=(),
                restated=False,
            )
            cpu_before, wall_before = os.times(), time.perf_counter()
            rows = blocks.rows(hierarchy, layout)
            written = write_report(
                Path(scratch) / str(index),
                layout=layout,
                rows=rows,
                bad_rows=BadRows(),
                seed=args.seed,
                days=[plan_day(day, today=today, pull=1, drift=False)],
                today=today,
            )
            seconds = time.perf_counter() - wall_before
            cpu_after = os.times()
            cpu = cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system
            label = "first (renders names)" if index == 0 else f"day {index}"
            print(
                f"{label}: {written.rows:,} rows, {written.size / 1e6:.0f} MB in {seconds:.2f}s "
                f"({written.rows / seconds:,.0f} rows/s, {written.size / 1e6 / seconds:.0f} MB/s, "
                f"cpu {cpu:.2f}s)"
            )
            written.delete()
            if index:
                total_rows, total_bytes = total_rows + written.rows, total_bytes + written.size
                total_seconds, total_cpu = total_seconds + seconds, total_cpu + cpu
    if total_seconds:
        print(
            f"steady state: {total_rows / total_seconds:,.0f} rows/s, "
            f"{total_bytes / 1e6 / total_seconds:.0f} MB/s, {total_bytes / total_rows:.0f} bytes/row, "
            f"{total_cpu / total_rows * 1e6:.2f} CPU-s per million rows"
        )


if __name__ == "__main__":
    main()
