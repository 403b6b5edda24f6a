"""Report sources: one module per source behind one async interface (``base.Connector``).

- ``dv360.py`` — Bid Manager v2 reports and DV360 v4 insertion orders.
- ``ttd.py`` — The Trade Desk MyReports.
- ``file.py`` — a user's own CSV / Parquet / JSON Lines exports.
- ``http.py`` — the one place httpx errors become ``domain.errors``, and the base of the API
  connectors; ``landing.py`` — verified, atomic, resumable landing of downloads.

Build one with ``build_connector(kind, source_config)`` (then ``await connector.aclose()``) or use
``async with open_connector(kind, source_config) as connector``.
"""

from etl_orchestrator.connectors.base import Connector, DownloadResult, ProgressCallback, ReportHandle
from etl_orchestrator.connectors.registry import build_connector, open_connector, parse_source_config

__all__ = [
    "Connector",
    "DownloadResult",
    "ProgressCallback",
    "ReportHandle",
    "build_connector",
    "open_connector",
    "parse_source_config",
]
