"""Settings of the DSP sandbox (the ``sandbox`` section of the configuration)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SandboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Interface the sandbox listens on.")
    port: int = Field(8090, ge=0, le=65535, description="HTTP port of the sandbox.")
    token: str = Field("sandbox-token", description="Bearer token the sandbox accepts.")
    seed: int = Field(42, description="Seed of the deterministic data generator.")
    rows_per_day: int = Field(125_000, ge=0, description="Report rows per advertiser set and day.")
    report_delay_s: float = Field(0.0, ge=0, description="Seconds a report stays QUEUED/RUNNING before DONE.")
