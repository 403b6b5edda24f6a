"""Where every table of the lake lives.

Layout under the lake root (each a Delta table partitioned by ``org_id/pipeline_id/date``)::

    bronze/<source_format>_report   every column as received (strings) + lineage, one table per format
    silver/campaign_daily           the canonical typed schema of ``domain/schema.py`` + lineage
    silver/quarantine               rows Silver rejected: raw values (JSON), rules broken, reasons
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BRONZE_FORMATS: tuple[str, ...] = ("dv360", "ttd", "csv", "parquet", "jsonl")


@dataclass(frozen=True)
class Lake:
    """The root of the lake: a local directory (tested) or an object-store URI with its options."""

    root: str
    storage_options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = str(self.root)
        if root.startswith("file://"):
            root = root.removeprefix("file://")
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        object.__setattr__(self, "root", root.rstrip("/"))

    @classmethod
    def of(cls, lake: LakeLike) -> Lake:
        return lake if isinstance(lake, Lake) else cls(str(lake))

    @property
    def is_local(self) -> bool:
        return "://" not in self.root

    def table_uri(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def bronze(self, source_format: str) -> str:
        return self.table_uri("bronze", f"{source_format}_report")

    @property
    def silver(self) -> str:
        return self.table_uri("silver", "campaign_daily")

    @property
    def quarantine(self) -> str:
        return self.table_uri("silver", "quarantine")

    @property
    def options(self) -> dict[str, str] | None:
        return dict(self.storage_options) or None


LakeLike = Lake | str | os.PathLike[str]
