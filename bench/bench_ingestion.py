"""Ingestion of one big day: report ready → Bronze committed, against a hand-written reference.

Starts a DSP sandbox serving ``--rows`` rows a day, asks it for a report and waits until it is
DONE (not timed: that is the source's time), then, each in a fresh child process so peak RSS is
that step's own:

- **service**: the worker's code path — the DV360 connector streams the file to the landing area
  (verified, atomic), then ``layers.bronze.land_to_bronze`` commits the Delta partition;
- **reference**: a hand-written equivalent — ``httpx`` streams the same URL to a file, then Polars
  reads the CSV data region as strings and writes one Parquet file.

Prints the median of ``--repeat`` runs of each, rows/s, peak RSS and the ratio.

    python -m bench.bench_ingestion --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import httpx

from etl_orchestrator.embedded import ManagedProcess, free_port

DAY = date(2024, 6, 3)
TOKEN = "bench-token"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _ready_report(base_url: str) -> dict:
    from etl_orchestrator.connectors import build_connector

    connector = build_connector("dv360", {"base_url": base_url, "token": TOKEN, "timeout_s": 300})
    try:
        handle = await connector.request_report(DAY)
        while not handle.done:
            await asyncio.sleep(0.2)
            handle = await connector.report_status(handle)
        return handle.model_dump(mode="json")
    finally:
        await connector.aclose()


def child_service(handle_json: str, work: str) -> dict:
    """The worker's path: connector download to landing, then the Bronze commit."""
    from etl_orchestrator.connectors import build_connector
    from etl_orchestrator.connectors.base import ReportHandle
    from etl_orchestrator.domain.partition import PartitionRef
    from etl_orchestrator.layers.bronze import land_to_bronze

    handle = ReportHandle.model_validate_json(handle_json)
    base_url = handle.download_url.split("/storage/")[0]
    landing = Path(work) / "landing" / f"{uuid4()}.raw"
    landing.parent.mkdir(parents=True, exist_ok=True)

    async def download() -> int:
        connector = build_connector("dv360", {"base_url": base_url, "token": TOKEN, "timeout_s": 300})
        try:
            return (await connector.download(handle, landing)).bytes
        finally:
            await connector.aclose()

    started = time.perf_counter()
    size = asyncio.run(download())
    downloaded = time.perf_counter()
    partition = PartitionRef(org_id=1, pipeline_id=uuid4(), date=DAY)
    bronze = land_to_bronze(Path(work) / "lake", partition, execution_id=uuid4(), source_format="dv360",
                            raw_path=landing, ingested_at=datetime.now(UTC))
    finished = time.perf_counter()
    return {"seconds": finished - started, "download_s": downloaded - started, "bronze_s": finished - downloaded,
            "rows": bronze.records, "bytes": size, "peak_rss_mib": _peak_rss_mib()}


def child_reference(handle_json: str, work: str) -> dict:
    """Hand-written: stream the file with httpx, read the data region as strings, write Parquet."""
    import polars as pl

    url = json.loads(handle_json)["download_url"]
    raw = Path(work) / f"{uuid4()}.csv"
    started = time.perf_counter()
    with httpx.stream("GET", url, timeout=300) as response, raw.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            out.write(chunk)
    downloaded = time.perf_counter()
    text = raw.read_bytes()
    data = text[: text.find(b"\n\n")] if b"\n\n" in text else text  # the data region ends at the blank line
    frame = pl.read_csv(data, infer_schema=False)
    frame = frame.filter(pl.col("Date").is_not_null())  # the totals row has no date
    frame.write_parquet(Path(work) / f"{uuid4()}.parquet")
    finished = time.perf_counter()
    return {"seconds": finished - started, "download_s": downloaded - started, "bronze_s": finished - downloaded,
            "rows": frame.height, "bytes": len(text), "peak_rss_mib": _peak_rss_mib()}


def _run_child(kind: str, handle: dict, work: Path) -> dict:
    output = subprocess.run([sys.executable, "-m", "bench.bench_ingestion", "--child", kind, "--handle",
                             json.dumps(handle), "--work", str(work)], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("service", "reference"))
    parser.add_argument("--handle")
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.child:
        run = child_service if args.child == "service" else child_reference
        print(json.dumps(run(args.handle, args.work)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        port = free_port()
        sandbox = ManagedProcess("sandbox", [sys.executable, "-m", "etl_orchestrator.sandbox", "--port", str(port),
                                             "--token", TOKEN, "--rows-per-day", str(args.rows), "--no-drift"],
                                 log_path=work / "sandbox.log").start()
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(base_url + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            handle = asyncio.run(_ready_report(base_url))
            results: dict[str, list[dict]] = {"service": [], "reference": []}
            for _ in range(args.repeat):
                for kind in ("reference", "service"):
                    results[kind].append(_run_child(kind, handle, work))
        finally:
            sandbox.stop()

    rows = results["service"][0]["rows"]
    size_mb = results["service"][0]["bytes"] / 1e6
    print(f"one DV360 day: {rows:,} rows, {size_mb:.0f} MB CSV; median of {args.repeat} runs each, same sandbox, "
          f"same file, same machine")
    print(f"{'':34}{'download s':>11}{'to bronze s':>12}{'total s':>9}{'rows/s':>12}{'peak RSS MiB':>14}")
    for kind, label in (("reference", "hand-written (httpx + Polars)"), ("service", "service (connector + Delta)")):
        total = _median(results[kind], "seconds")
        print(f"{label:34}{_median(results[kind], 'download_s'):>11.2f}{_median(results[kind], 'bronze_s'):>12.2f}"
              f"{total:>9.2f}{rows / total:>12,.0f}{_median(results[kind], 'peak_rss_mib'):>14.0f}")
    ratio = _median(results["service"], "seconds") / _median(results["reference"], "seconds")
    print(f"service / reference: {ratio:.2f}x")


if __name__ == "__main__":
    main()
