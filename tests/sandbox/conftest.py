"""Fixtures of the sandbox tests: a fault scope per test, a client bound to it, the partner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.sandbox.scripting import SandboxScope, partner, scope

__all__ = ["api", "partner", "scope"]


@pytest.fixture
async def api(scope: SandboxScope) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the sandbox authenticated as this test's scope."""
    async with httpx.AsyncClient(base_url=scope.url, headers=scope.auth, timeout=30) as client:
        yield client
