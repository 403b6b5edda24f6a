"""``build_connector`` / ``open_connector``: the connector of a pipeline's source, from its stored JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, ValidationError

from etl_orchestrator.connectors.base import Connector
from etl_orchestrator.connectors.dv360 import Dv360Config, Dv360Connector
from etl_orchestrator.connectors.file import FileConnector, FileSourceConfig
from etl_orchestrator.connectors.ttd import TtdConfig, TtdConnector
from etl_orchestrator.domain.enums import SourceKind
from etl_orchestrator.domain.errors import ValidationFailed

CONFIG_MODELS: dict[SourceKind, type[BaseModel]] = {
    SourceKind.DV360: Dv360Config,
    SourceKind.TTD: TtdConfig,
    SourceKind.FILE: FileSourceConfig,
}
_FACTORIES: dict[SourceKind, Callable[[Any], Connector]] = {
    SourceKind.DV360: Dv360Connector,
    SourceKind.TTD: TtdConnector,
    SourceKind.FILE: FileConnector,
}


def parse_source_config(kind: SourceKind | str, source_config: Mapping[str, Any]) -> BaseModel:
    """Validate a pipeline's source config; ValidationFailed names the offending field."""
    try:
        source = SourceKind(kind)
    except ValueError as exc:
        raise ValidationFailed(
            "source.kind",
            f"unknown source {kind!r}; one of {', '.join(member.value for member in SourceKind)}",
        ) from exc
    try:
        return CONFIG_MODELS[source].model_validate(dict(source_config))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["source_config", *(str(part) for part in first["loc"])])
        raise ValidationFailed(field, first["msg"]) from exc


def build_connector(kind: SourceKind | str, source_config: Mapping[str, Any]) -> Connector:
    """A connector for the source; the caller owns it and must ``await connector.aclose()``."""
    config = parse_source_config(kind, source_config)
    return _FACTORIES[SourceKind(kind)](config)


@asynccontextmanager
async def open_connector(
    kind: SourceKind | str, source_config: Mapping[str, Any]
) -> AsyncIterator[Connector]:
    """``build_connector`` that closes the connector when the block ends."""
    connector = build_connector(kind, source_config)
    try:
        yield connector
    finally:
        await connector.aclose()
