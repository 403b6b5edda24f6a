"""Fixtures of the connector tests: a fault scope per test and a DV360 connector bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from etl_orchestrator.connectors import Connector, open_connector
from tests.sandbox.scripting import SandboxScope, partner, scope

__all__ = ["dv360", "partner", "scope", "small_advertiser"]


@pytest.fixture
def small_advertiser(partner: dict[str, Any]) -> dict[str, Any]:
    """The advertiser with the fewest rows, so reports stay small."""
    return min(
        (adv for adv in partner["advertisers"] if adv["rowsPerDay"]), key=lambda adv: adv["rowsPerDay"]
    )


@pytest.fixture
async def dv360(scope: SandboxScope, small_advertiser: dict[str, Any]) -> AsyncIterator[Connector]:
    async with open_connector("dv360", scope.dv360_config(small_advertiser)) as connector:
        yield connector
