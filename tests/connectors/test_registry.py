"""``build_connector``: one connector per source kind, config errors name the field."""

from __future__ import annotations

import pytest

from etl_orchestrator.connectors import Connector, build_connector
from etl_orchestrator.connectors.dv360 import Dv360Connector
from etl_orchestrator.connectors.file import FileConnector
from etl_orchestrator.connectors.ttd import TtdConnector
from etl_orchestrator.domain.enums import SourceKind
from etl_orchestrator.domain.errors import ValidationFailed


@pytest.mark.parametrize(
    ("kind", "config", "connector_class"),
    [
        (SourceKind.DV360, {"base_url": "http://127.0.0.1:1", "token": "t"}, Dv360Connector),
        ("ttd", {"base_url": "http://127.0.0.1:1/ttd", "token": "t"}, TtdConnector),
        ("file", {"path": "/tmp"}, FileConnector),
    ],
)
async def test_each_kind_builds_its_connector(
    kind: SourceKind | str, config: dict[str, str], connector_class: type
) -> None:
    connector = build_connector(kind, config)
    try:
        assert isinstance(connector, connector_class) and isinstance(connector, Connector)
        assert connector.kind == SourceKind(kind)
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("dv360", {"base_url": "http://x"}, "source_config.token"),
        ("dv360", {"base_url": "http://x", "token": "t", "timeout_s": 0}, "source_config.timeout_s"),
        (
            "ttd",
            {"base_url": "http://x", "token": "t", "numeric_format": "EU"},
            "source_config.numeric_format",
        ),
        ("file", {"path": "/tmp", "surprise": 1}, "source_config.surprise"),
        ("file", {"path": "https://exports.example/daily/"}, "source_config"),
        ("amazon", {}, "source.kind"),
    ],
)
def test_invalid_config_names_the_field(kind: str, config: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_connector(kind, config)
    assert caught.value.field == field
