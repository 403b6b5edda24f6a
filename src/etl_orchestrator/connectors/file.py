"""A user's own exports: CSV, Parquet or JSON Lines files, one per report date.

``path`` is either a directory — the file of a date is the one whose name contains the date as
``2026-01-16``, ``20260116`` or ``2026_01_16`` (exactly one must) — or a pattern with placeholders
``{date}`` (``2026-01-16``), ``{yyyymmdd}``, ``{yyyy}``, ``{mm}``, ``{dd}``. Local paths,
``file://``, ``s3://``, ``gs://`` … go through ``pyarrow.fs``; ``http(s)://`` patterns are fetched
with httpx (``token`` becomes a bearer header). Config::

    {"path": "/data/exports/dv360_{yyyymmdd}.csv", "format": "auto"}

``request_report`` finds the file and answers DONE at once (a missing file is a DataError: the
export is not there); ``download`` copies its bytes, landing them like every connector does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import pyarrow
import pyarrow.fs as pafs
from pydantic import BaseModel, ConfigDict, Field, model_validator

from etl_orchestrator.connectors.base import DownloadResult, ProgressCallback, ReportHandle, StepCallback
from etl_orchestrator.connectors.http import HttpConnectorBase, HttpSource
from etl_orchestrator.connectors.landing import PartialFile
from etl_orchestrator.domain.enums import SourceKind
from etl_orchestrator.domain.errors import DataError, EtlError, NetworkError, SourceAuthError

FORMATS_BY_SUFFIX = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
PLACEHOLDERS = ("{date}", "{yyyymmdd}", "{yyyy}", "{mm}", "{dd}")
_SOURCE = "file"


class FileSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, description="A directory, or a path/URI pattern with {date}, {yyyymmdd} …"
    )
    format: Literal["auto", "csv", "parquet", "jsonl"] = Field(
        "auto", description="auto: from the file suffix."
    )
    token: str | None = Field(None, description="Bearer token for http(s) patterns.")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of http(s) requests.")
    chunk_bytes: int = Field(1024 * 1024, ge=4096, description="Copy chunk size (one progress call each).")

    @property
    def is_pattern(self) -> bool:
        return any(placeholder in self.path for placeholder in PLACEHOLDERS)

    @model_validator(mode="after")
    def _http_needs_a_pattern(self) -> FileSourceConfig:
        if _is_http(self.path) and not self.is_pattern:
            raise ValueError("an http(s) file source needs a pattern with {date} (a URL cannot be listed)")
        return self


def fill_pattern(pattern: str, report_date: date) -> str:
    values = {
        "{date}": report_date.isoformat(),
        "{yyyymmdd}": report_date.strftime("%Y%m%d"),
        "{yyyy}": f"{report_date.year:04d}",
        "{mm}": f"{report_date.month:02d}",
        "{dd}": f"{report_date.day:02d}",
    }
    for placeholder, value in values.items():
        pattern = pattern.replace(placeholder, value)
    return pattern


def date_tokens(report_date: date) -> tuple[str, ...]:
    return (report_date.isoformat(), report_date.strftime("%Y%m%d"), report_date.strftime("%Y_%m_%d"))


def file_format(name: str, configured: str) -> tuple[str, str | None]:
    """(format, compression) of a file name, e.g. ``x.csv.gz`` → ("csv", "gzip")."""
    suffixes = [suffix.lower() for suffix in PurePosixPath(name).suffixes]
    compression = "gzip" if suffixes[-1:] == [".gz"] else None
    suffix = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    detected = FORMATS_BY_SUFFIX.get(suffix)
    if configured != "auto":
        return configured, compression
    if detected is None:
        raise DataError(
            f"cannot tell the format of {name}: use .csv, .parquet or .jsonl, or set format", source=_SOURCE
        )
    return detected, compression


@contextmanager
def translated_fs(operation: str, location: str) -> Iterator[None]:
    """The one place pyarrow file-system errors become domain errors."""
    try:
        yield
    except EtlError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{location} does not exist", source=_SOURCE, operation=operation) from exc
    except PermissionError as exc:
        raise SourceAuthError(
            f"no permission to read {location}", source=_SOURCE, operation=operation
        ) from exc
    except pyarrow.ArrowInvalid as exc:  # a malformed URI or an unsupported scheme
        raise DataError(f"cannot open {location}: {exc}", source=_SOURCE, operation=operation) from exc
    except OSError as exc:  # a remote file system's I/O error may pass
        raise NetworkError(f"reading {location} failed: {exc}", source=_SOURCE, operation=operation) from exc


def _is_http(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _file_system(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in location:
        location = str(Path(location).expanduser().resolve())
    return pafs.FileSystem.from_uri(location)


class FileConnector(HttpConnectorBase):
    kind = SourceKind.FILE

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.is_pattern = config.is_pattern
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._http = HttpSource(
            source=_SOURCE,
            base_url="",
            headers=headers,
            timeout_s=config.timeout_s,
            chunk_bytes=config.chunk_bytes,
        )

    async def check_credentials(self) -> None:
        if _is_http(self.config.path):
            return  # nothing to probe without a date; request_report will tell
        root = self.config.path.split("{", 1)[0].rsplit("/", 1)[0] if self.is_pattern else self.config.path
        info = await asyncio.to_thread(self._info, root or "/")
        if info.type != pafs.FileType.Directory:
            raise DataError(f"file source directory {root} does not exist", source=_SOURCE)

    def _info(self, location: str) -> pafs.FileInfo:
        with translated_fs("stat", location):
            file_system, path = _file_system(location)
            return file_system.get_file_info(path)

    def _find(self, report_date: date) -> str:
        """The location of the date's export (a blocking file-system call)."""
        if self.is_pattern:
            location = fill_pattern(self.config.path, report_date)
            if not _is_http(location) and self._info(location).type != pafs.FileType.File:
                raise DataError(
                    f"no export for {report_date}: {location} does not exist",
                    source=_SOURCE,
                    report_date=report_date,
                )
            return location
        with translated_fs("list", self.config.path):
            file_system, directory = _file_system(self.config.path)
            entries = file_system.get_file_info(pafs.FileSelector(directory, recursive=False))
        tokens = date_tokens(report_date)
        matches = sorted(
            entry.path
            for entry in entries
            if entry.type == pafs.FileType.File
            and any(token in entry.base_name for token in tokens)
            and not entry.base_name.startswith(".")
        )
        if len(matches) != 1:
            found = ", ".join(PurePosixPath(match).name for match in matches) or "none"
            raise DataError(
                f"expected one export for {report_date} in {self.config.path}, found {found}",
                source=_SOURCE,
                report_date=report_date,
            )
        scheme = self.config.path.split("://", 1)[0] + "://" if "://" in self.config.path else ""
        return scheme + matches[0] if scheme else matches[0]

    async def request_report(self, report_date: date, *, resume: dict[str, Any] | None = None,
                             on_step: StepCallback | None = None) -> ReportHandle:
        # One request, nothing to resume: a file is found (or not) in one step.
        location = await asyncio.to_thread(self._find, report_date)
        data_format, compression = file_format(location, self.config.format)
        return ReportHandle(
            source=self.kind,
            report_date=report_date,
            state="DONE",
            download_url=location,
            report_id=PurePosixPath(location).name,
            extra={"format": data_format, "compression": compression},
        )

    async def report_status(self, handle: ReportHandle) -> ReportHandle:
        return handle  # a file is ready the moment it is found

    async def download(
        self,
        handle: ReportHandle,
        dest: Path,
        *,
        resume_from: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        location = handle.download_url or ""
        if _is_http(location):
            return await super().download(handle, dest, resume_from=resume_from, on_progress=on_progress)
        with (
            PartialFile(dest, resume_from=resume_from, source=_SOURCE) as landing,
            translated_fs("copy", location),
        ):
            file_system, path = _file_system(location)
            source = await asyncio.to_thread(file_system.open_input_file, path)
            try:
                expected = await asyncio.to_thread(source.size)
                await asyncio.to_thread(source.seek, landing.offset)
                while chunk := await asyncio.to_thread(source.read, self.config.chunk_bytes):
                    landing.write(chunk)
                    if on_progress is not None:
                        on_progress(landing.size)
            finally:
                source.close()
            return landing.commit(expected_size=expected)
