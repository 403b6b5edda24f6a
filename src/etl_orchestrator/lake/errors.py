"""Errors of the lake boundary, in the domain taxonomy (deltalake and I/O errors stop here)."""

from __future__ import annotations

from etl_orchestrator.domain.errors import DataError, NetworkError


class LakeBusyError(NetworkError):
    """Concurrent commits to one Delta table kept conflicting. Transient: the partition is retried."""


class LakeStorageError(NetworkError):
    """The lake's storage failed (I/O error, object store unreachable). Transient."""


class LakeSchemaError(DataError):
    """A partition's columns conflict with the table's schema (same name, another type). Terminal."""
