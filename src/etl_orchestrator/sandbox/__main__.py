"""``python -m etl_orchestrator.sandbox --host H --port P [--token T] [--seed N] …``: run the sandbox."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import date
from pathlib import Path

from etl_orchestrator.sandbox.faults import FaultRule
from etl_orchestrator.sandbox.server import serve
from etl_orchestrator.sandbox.settings import SandboxSettings


def _rules(value: str) -> list[FaultRule]:
    """``--faults`` takes a JSON list of fault rules, inline or as ``@path``."""
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    return [FaultRule.model_validate(rule) for rule in json.loads(text)]


def parse_settings(argv: list[str] | None = None) -> SandboxSettings:
    defaults = SandboxSettings()
    parser = argparse.ArgumentParser(prog="python -m etl_orchestrator.sandbox", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument(
        "--token", default=defaults.token, help="bearer token; '<token>.<suffix>' tokens also pass"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--rows-per-day", type=int, default=defaults.rows_per_day)
    parser.add_argument("--report-delay-s", type=float, default=defaults.report_delay_s)
    parser.add_argument("--advertisers", type=int, default=defaults.advertiser_count)
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the sandbox's today (YYYY-MM-DD)"
    )
    parser.add_argument("--no-drift", action="store_true", help="no restatement drift in the last 7 days")
    parser.add_argument(
        "--data-dir", default=None, help="where report files go (default: a temporary directory)"
    )
    parser.add_argument("--faults", type=_rules, default=[], help="JSON list of global fault rules, or @file")
    args = parser.parse_args(argv)
    return SandboxSettings(
        host=args.host,
        port=args.port,
        token=args.token,
        seed=args.seed,
        rows_per_day=args.rows_per_day,
        report_delay_s=args.report_delay_s,
        advertiser_count=args.advertisers,
        today=args.today,
        restatement_drift=not args.no_drift,
        data_dir=args.data_dir,
        faults=args.faults,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(parse_settings(argv))


if __name__ == "__main__":
    main()
