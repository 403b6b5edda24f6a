"""Settings of the DSP sandbox (the ``sandbox`` section of the configuration).

The fault types (``FaultRule``, ``BadRows``) live in ``sandbox/faults.py``; they are part of the
settings so a demo can start a sandbox that is flaky from its first request.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from etl_orchestrator.sandbox.faults import BadRows, FaultRule


class SandboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Interface the sandbox listens on.")
    port: int = Field(8090, ge=0, le=65535, description="HTTP port of the sandbox.")
    token: str = Field("sandbox-token", description="Bearer token the sandbox accepts.")
    seed: int = Field(42, description="Seed of the deterministic data generator.")
    rows_per_day: int = Field(125_000, ge=0, description="Report rows per advertiser set and day.")
    report_delay_s: float = Field(0.0, ge=0, description="Seconds a report stays QUEUED/RUNNING before DONE.")

    accept_sub_tokens: bool = Field(
        True, description="Also accept '<token>.<anything>': each such token is its own fault scope (tests)."
    )
    extra_tokens: list[str] = Field(
        default_factory=list, description="More bearer tokens the sandbox accepts."
    )
    advertiser_count: int = Field(12, ge=1, le=500, description="Advertisers the synthetic partner owns.")
    today: date | None = Field(
        None,
        description="The sandbox's 'today' (restatement window, flights); None: the UTC date of the clock.",
    )
    restatement_drift: bool = Field(
        True,
        description="Numbers of the last 7 days drift slightly on every pull, like real DSP restatements.",
    )
    data_dir: str | None = Field(
        None,
        description="Where report files are generated; None: a temporary directory in /dev/shm if it has "
        "room (reports stay off the disk), else in the system's temporary directory.",
    )
    max_cache_bytes: int = Field(
        2 * 1024**3,
        ge=0,
        description="Report files kept on disk; older ones are deleted and regenerated on demand.",
    )
    download_chunk_bytes: int = Field(1024 * 1024, ge=4096, description="Chunk size of report downloads.")
    download_url_ttl_s: int = Field(3600, ge=1, description="Lifetime of a pre-signed download URL.")
    generation_threads: int = Field(
        2, ge=1, le=64, description="Report files generated at once (each uses Polars' own thread pool)."
    )
    faults: list[FaultRule] = Field(
        default_factory=list, description="Fault rules that apply to every request (the global fault scope)."
    )
    bad_rows: BadRows = Field(
        default_factory=BadRows, description="Bad rows written into every generated report (global scope)."
    )
