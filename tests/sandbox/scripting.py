"""Script one fault scope of the shared sandbox through its admin API.

Each test gets its own bearer token ``<sandbox token>.<uuid>``: the sandbox accepts it, and the
faults, bad rows, report delay and request counts of that token touch no other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import SandboxServer


@dataclass(frozen=True)
class SandboxScope:
    url: str
    token: str

    @classmethod
    def fresh(cls, sandbox: SandboxServer) -> SandboxScope:
        return cls(url=sandbox.url, token=f"{sandbox.token}.{uuid4().hex}")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def dv360_config(self, advertiser: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        """A DV360 source config for this scope and one advertiser of ``/_sandbox/info``."""
        return {
            "base_url": self.url,
            "token": self.token,
            "timeout_s": 10,
            "advertiser_ids": [advertiser["advertiserId"]],
            **overrides,
        }

    async def script(
        self,
        *rules: dict[str, Any],
        bad_rows: dict[str, Any] | None = None,
        report_delay_s: float | None = None,
    ) -> dict[str, Any]:
        profile = {
            "token": self.token,
            "rules": list(rules),
            "bad_rows": bad_rows or {},
            "report_delay_s": report_delay_s,
        }
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.put("/_sandbox/faults", json=profile)
        response.raise_for_status()
        return response.json()

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/_sandbox/stats", params={"token": self.token})
        response.raise_for_status()
        return response.json()

    async def forget(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            await client.delete("/_sandbox/faults", params={"token": self.token})


async def sandbox_info(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/_sandbox/info")
    response.raise_for_status()
    return response.json()


# Fixtures shared by tests/sandbox and tests/connectors (each conftest imports them).


@pytest.fixture
async def scope(dsp_sandbox: SandboxServer) -> AsyncIterator[SandboxScope]:
    """A fresh fault scope (bearer token) of the shared sandbox, forgotten after the test."""
    fresh = SandboxScope.fresh(dsp_sandbox)
    yield fresh
    await fresh.forget()


@pytest.fixture(scope="session")
async def partner(dsp_sandbox: SandboxServer) -> dict[str, Any]:
    """The sandbox's ``/_sandbox/info``: partner id, advertisers and their row counts."""
    return await sandbox_info(dsp_sandbox.url)
