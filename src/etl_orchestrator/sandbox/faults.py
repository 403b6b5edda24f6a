"""Fault injection of the sandbox: what can go wrong, for whom, and how often.

A *scope* is a bearer token. Each scope has a ``FaultProfile``: HTTP fault rules, bad rows written
into its generated reports and an optional report delay. The *global* profile (token ``None``,
filled from the settings or ``PUT /_sandbox/faults`` without a token) applies to every scope, after
the scope's own rules. Tests use their own token (``<sandbox token>.<anything>``), so the faults they
script never reach another test's requests, and counters (``times``, ``rate``, request stats) are
kept per scope, so exact counts hold however many tests share the sandbox.

A rule fires either for the next ``times`` matching requests, for a seeded deterministic ``rate``
of them, or (neither given) for every matching request. The header ``X-Sandbox-Fault`` scripts a
single request (see ``parse_fault_header``).

This module is imported by the settings, so it depends on pydantic only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENDPOINTS: tuple[str, ...] = (
    "create_query",
    "get_query",
    "list_queries",
    "delete_query",
    "run_query",
    "get_report",
    "list_reports",
    "download",
    "list_partners",
    "list_advertisers",
    "advertiser",
    "insertion_orders",
    "ttd_create_schedule",
    "ttd_query_executions",
)
"""Names of the endpoints a fault rule can target (``*`` targets all)."""

FAULT_HEADER = "X-Sandbox-Fault"


class FaultRule(BaseModel):
    """One scripted misbehaviour of one endpoint (or all, with ``*``)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field("*", description="Endpoint name from ENDPOINTS, or '*' for every endpoint.")
    advertiser_id: str | None = Field(None, description="Only requests about this advertiser.")
    status: int | None = Field(
        None, ge=400, le=599, description="Answer with this HTTP status and error body."
    )
    retry_after_s: float | None = Field(None, ge=0, description="With status 429: send this Retry-After.")
    delay_s: float = Field(
        0.0, ge=0, le=3600, description="Sleep this long before answering (slow response)."
    )
    truncate_fraction: float | None = Field(
        None, ge=0, lt=1, description="Downloads: close the connection after this fraction of the body."
    )
    malformed_json: bool = Field(False, description="Answer 200 with a body that is not JSON.")
    fail_report: bool = Field(False, description="run_query / ttd_create_schedule: the report ends FAILED.")
    times: int | None = Field(None, ge=1, description="Fire for the next N matching requests, then expire.")
    rate: float | None = Field(
        None, ge=0, le=1, description="Fire for this seeded fraction of matching requests."
    )

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, endpoint: str) -> str:
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)} or '*'")
        return endpoint

    @model_validator(mode="after")
    def _has_an_effect(self) -> FaultRule:
        effects = (
            self.status,
            self.truncate_fraction,
            self.delay_s or None,
            self.malformed_json or None,
            self.fail_report or None,
        )
        if all(effect is None for effect in effects):
            raise ValueError(
                "a fault rule needs an effect: status, delay_s, truncate_fraction, "
                "malformed_json or fail_report"
            )
        if self.times is not None and self.rate is not None:
            raise ValueError("give either times or rate, not both")
        return self


class RowFault(BaseModel):
    """How many rows of each report day get one kind of defect: an exact count and/or a seeded rate."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(
        0, ge=0, description="Exactly this many rows per report day (fewer if the day is smaller)."
    )
    rate: float = Field(0.0, ge=0, le=1, description="Plus this seeded fraction of the remaining rows.")

    @property
    def active(self) -> bool:
        return self.count > 0 or self.rate > 0


class BadRows(BaseModel):
    """Defects written into generated reports, as real DSP exports have them."""

    model_config = ConfigDict(extra="forbid")

    missing_ids: RowFault = Field(default_factory=RowFault, description="Line Item ID cell left empty.")
    non_numeric: RowFault = Field(default_factory=RowFault, description="Impressions cell reads 'N/A'.")
    duplicates: RowFault = Field(default_factory=RowFault, description="Row written twice in a row.")
    negative: RowFault = Field(default_factory=RowFault, description="Money cells negated (a refund).")
    unknown_currency: RowFault = Field(default_factory=RowFault, description="Currency cell reads 'XXZ'.")

    @property
    def active(self) -> bool:
        return any(getattr(self, name).active for name in BadRows.model_fields)


class FaultProfile(BaseModel):
    """Everything scripted for one scope; the body of ``PUT /_sandbox/faults``."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(None, description="The scope: a bearer token; None is the global scope.")
    rules: list[FaultRule] = Field(default_factory=list, description="HTTP faults, first match wins.")
    bad_rows: BadRows = Field(default_factory=BadRows, description="Defects in this scope's reports.")
    report_delay_s: float | None = Field(
        None, ge=0, description="Reports run in this scope take this long instead of the sandbox's delay."
    )


@dataclass(frozen=True)
class FaultDecision:
    """What the sandbox does to one request."""

    status: int | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0
    truncate_fraction: float | None = None
    malformed_json: bool = False
    fail_report: bool = False

    @classmethod
    def from_rule(cls, rule: FaultRule) -> FaultDecision:
        return cls(
            status=rule.status,
            retry_after_s=rule.retry_after_s,
            delay_s=rule.delay_s,
            truncate_fraction=rule.truncate_fraction,
            malformed_json=rule.malformed_json,
            fail_report=rule.fail_report,
        )


def parse_fault_header(value: str) -> FaultDecision:
    """Parse ``X-Sandbox-Fault``: ``;``-separated items, e.g. ``503``, ``429; retry-after=2``,
    ``delay=3``, ``truncate=0.5``, ``malformed``, ``fail-report``. Raise ValueError if malformed."""
    status: int | None = None
    options: dict[str, float] = {}
    flags: set[str] = set()
    for item in (part.strip().lower() for part in value.split(";")):
        if not item:
            continue
        if item.isdigit():
            status = int(item)
        elif "=" in item:
            key, _, number = item.partition("=")
            options[key.strip()] = float(number)
        else:
            flags.add(item)
    unknown = (set(options) - {"retry-after", "delay", "truncate"}) | (flags - {"malformed", "fail-report"})
    if unknown:
        raise ValueError(f"unknown {FAULT_HEADER} items: {', '.join(sorted(unknown))}")
    rule = FaultRule(
        status=status,
        retry_after_s=options.get("retry-after"),
        delay_s=options.get("delay", 0.0),
        truncate_fraction=options.get("truncate"),
        malformed_json="malformed" in flags,
        fail_report="fail-report" in flags,
    )
    return FaultDecision.from_rule(rule)


def seeded_unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts (stable across processes and versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class _RuleState:
    rule: FaultRule
    index: int
    remaining: int | None
    matched: int = 0


@dataclass
class _Scope:
    profile: FaultProfile
    rules: list[_RuleState]
    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)


class FaultBook:
    """The fault profiles of every scope, their counters, and the decision for each request."""

    def __init__(self, *, seed: int, rules: list[FaultRule], bad_rows: BadRows) -> None:
        self._seed = seed
        self._scopes: dict[str | None, _Scope] = {}
        self.set_profile(FaultProfile(token=None, rules=rules, bad_rows=bad_rows))

    def set_profile(self, profile: FaultProfile) -> None:
        """Replace the profile of ``profile.token``'s scope; its request counters are kept."""
        previous = self._scopes.get(profile.token)
        states = [
            _RuleState(rule=rule, index=index, remaining=rule.times)
            for index, rule in enumerate(profile.rules)
        ]
        scope = _Scope(profile=profile, rules=states)
        if previous is not None:
            scope.requests, scope.faults = previous.requests, previous.faults
        self._scopes[profile.token] = scope

    def clear(self, token: str | None) -> None:
        """Forget a scope (its faults and counters); ``None`` forgets every scope and the global faults."""
        if token is None:
            self._scopes.clear()
            self.set_profile(FaultProfile())
        else:
            self._scopes.pop(token, None)

    def profile(self, token: str | None) -> dict[str, object]:
        scope = self._scopes.get(token)
        if scope is None:
            return FaultProfile(token=token).model_dump()
        described = scope.profile.model_dump()
        for state, rule in zip(scope.rules, described["rules"], strict=True):
            rule["remaining"] = state.remaining
        return described

    def decide(
        self, *, token: str, endpoint: str, advertiser_ids: tuple[str, ...] = (), header: str | None = None
    ) -> FaultDecision | None:
        """Count the request and return the fault to inject, if any. Raise ValueError on a bad header."""
        scope = self._scope(token)
        scope.requests[endpoint] += 1
        decision = parse_fault_header(header) if header else None
        if decision is None:
            decision = self._from_rules(scope, token, endpoint, advertiser_ids)
        if decision is None and token is not None:
            decision = self._from_rules(self._scope(None), token, endpoint, advertiser_ids)
        if decision is not None:
            scope.faults[endpoint] += 1
        return decision

    def _from_rules(
        self, scope: _Scope, token: str, endpoint: str, advertiser_ids: tuple[str, ...]
    ) -> FaultDecision | None:
        for state in scope.rules:
            rule = state.rule
            if rule.endpoint not in ("*", endpoint):
                continue
            if rule.advertiser_id is not None and rule.advertiser_id not in advertiser_ids:
                continue
            if state.remaining == 0:
                continue
            state.matched += 1
            if (
                rule.rate is not None
                and seeded_unit(self._seed, token, state.index, state.matched) >= rule.rate
            ):
                continue
            if state.remaining is not None:
                state.remaining -= 1
            return FaultDecision.from_rule(rule)
        return None

    def bad_rows(self, token: str | None) -> BadRows:
        """The scope's bad rows if it scripted any, else the global ones."""
        scope = self._scopes.get(token)
        if scope is not None and scope.profile.bad_rows.active:
            return scope.profile.bad_rows
        return self._scope(None).profile.bad_rows

    def report_delay_s(self, token: str | None) -> float | None:
        scope = self._scopes.get(token)
        return scope.profile.report_delay_s if scope is not None else None

    def stats(self, token: str | None) -> dict[str, object]:
        """Per-endpoint request and fault counts of one scope, or summed over all scopes (``None``)."""
        scopes = [self._scopes[token]] if token in self._scopes else []
        if token is None:
            scopes = list(self._scopes.values())
        requests: Counter[str] = Counter()
        faults: Counter[str] = Counter()
        for scope in scopes:
            requests.update(scope.requests)
            faults.update(scope.faults)
        return {"token": token, "requests": dict(requests), "faults": dict(faults)}

    def _scope(self, token: str | None) -> _Scope:
        scope = self._scopes.get(token)
        if scope is None:
            scope = _Scope(profile=FaultProfile(token=token), rules=[])
            self._scopes[token] = scope
        return scope
