"""Landing a download: write ``dest.partial``, verify, rename to ``dest`` atomically.

``dest`` appears only complete, its byte count checked against what the source declared; a
failed or cut download leaves ``dest.partial`` (with what arrived) for a later ``resume_from``.
Landing the same partition twice replaces the file: one file, never two.

No checksum is computed: no source here declares one to compare the file with, and a SHA-256 that
nothing read cost ~3 % of the worker's CPU in a backfill (44 MB a day, perf samples). The file is
unbuffered and a batch of received pieces goes down in one ``writev``: joining them first would copy
every byte once more into fresh memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from etl_orchestrator.connectors.base import DownloadResult
from etl_orchestrator.domain.errors import NetworkError

_IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024


def partial_path(dest: Path) -> Path:
    return dest.with_suffix(dest.suffix + ".partial")


class PartialFile:
    """A download in progress. ``offset`` is where this attempt starts (``resume_from`` when the
    partial file has at least that many bytes, else 0); ``size`` counts every byte landed."""

    def __init__(self, dest: Path, *, resume_from: int, source: str) -> None:
        self.dest = dest
        self.partial = partial_path(dest)
        self.source = source
        dest.parent.mkdir(parents=True, exist_ok=True)
        existing = self.partial.stat().st_size if self.partial.exists() else 0
        self.offset = resume_from if 0 < resume_from <= existing else 0
        self._file: BinaryIO = self.partial.open("r+b" if self.offset else "wb", buffering=0)
        if self.offset:
            self._file.truncate(self.offset)
            self._file.seek(self.offset)
        self.size = self.offset

    def restart(self) -> None:
        """Drop what was kept: the source sends the file from its first byte."""
        self._file.seek(0)
        self._file.truncate(0)
        self.offset = self.size = 0

    def write(self, *pieces: bytes) -> None:
        """Append ``pieces`` in order, in as few system calls as the kernel allows."""
        pending = [memoryview(piece) for piece in pieces if piece]
        while pending:
            written = os.writev(self._file.fileno(), pending[:_IOV_MAX])
            self.size += written
            while pending and written >= len(pending[0]):  # drop what went down; a short write resumes
                written -= len(pending.pop(0))
            if written:
                pending[0] = pending[0][written:]

    def commit(self, *, expected_size: int | None) -> DownloadResult:
        """Verify the byte count against what the source declared, then publish ``dest``."""
        self._file.close()
        if expected_size is not None and self.size != expected_size:
            raise NetworkError(
                f"{self.source} download of {self.dest.name} ended at {self.size} of {expected_size} bytes",
                source=self.source,
                received=self.size,
                expected=expected_size,
            )
        os.replace(self.partial, self.dest)  # atomic on one file system: readers see old or new, never half
        return DownloadResult(path=str(self.dest), bytes=self.size, resumed_from=self.offset)

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()  # keeps what arrived in the partial file, for a resume
