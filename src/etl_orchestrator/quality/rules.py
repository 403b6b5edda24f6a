"""Declarative data-quality rules of a pipeline, stored as JSON in ``pipelines.quality_rules``.

A rule names what it checks (``type`` and its parameters, over canonical Silver columns) and what
happens to a partition that breaks it (``action``):

- ``warn``: the row is kept and the issue counted;
- ``drop``: the row goes to the quarantine table with the rule's name and a reason;
- ``fail``: the partition fails with a ``DataError`` naming the rule and its counts (no retry).

Row rules (``not_null``, ``type``, ``range``, ``accepted_values``, ``currency_consistency``) judge
each row; partition rules (``unique``, ``freshness``, ``volume_anomaly``, ``totals_checksum``) judge
the partition as a whole, so they take ``warn`` or ``fail`` only.

Example (``rules_to_json(default_rules())`` gives the full default set)::

    [{"type": "not_null", "name": "grain_present", "action": "drop",
      "columns": ["date", "advertiser_id", "campaign_id", "insertion_order_id", "line_item_id"]},
     {"type": "range", "name": "metrics_non_negative", "action": "drop",
      "columns": ["impressions", "clicks", "spend"], "min": 0},
     {"type": "accepted_values", "name": "currency_iso_4217", "action": "drop",
      "column": "currency", "preset": "iso_4217"},
     {"type": "volume_anomaly", "action": "warn", "min_history": 7, "max_deviation": 0.5}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from etl_orchestrator.domain.enums import RuleAction
from etl_orchestrator.domain.errors import ValidationFailed
from etl_orchestrator.domain.schema import CANONICAL_COLUMNS, GRAIN, METRICS

CanonicalColumn = Literal[
    "source", "date", "advertiser_id", "advertiser_name", "campaign_id", "campaign_name",
    "insertion_order_id", "insertion_order_name", "line_item_id", "line_item_name", "currency",
    "impressions", "billable_impressions", "clicks", "conversions", "spend", "revenue",
]
MetricColumn = Literal["impressions", "billable_impressions", "clicks", "conversions", "spend", "revenue"]
ParsedColumn = Literal["date", "impressions", "billable_impressions", "clicks", "conversions", "spend", "revenue"]

assert set(CanonicalColumn.__args__) == set(CANONICAL_COLUMNS)  # type: ignore[attr-defined]
assert set(MetricColumn.__args__) == set(METRICS)  # type: ignore[attr-defined]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=100, description="Unique within the pipeline; derived if omitted.")
    action: RuleAction = Field(RuleAction.WARN, description="warn | drop | fail")
    description: str | None = Field(None, max_length=500, description="Why the rule exists, for people.")

    row_level: ClassVar[bool] = True

    @property
    def rule_name(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    @model_validator(mode="after")
    def _partition_rules_cannot_drop(self) -> _Rule:
        if not self.row_level and self.action == RuleAction.DROP:
            raise ValueError(f"a {self.default_name()} rule judges the whole partition: use warn or fail")
        return self


class NotNullRule(_Rule):
    """Each named column has a value (``-``, empty and ``Unknown`` IDs count as missing)."""

    type: Literal["not_null"] = "not_null"
    columns: tuple[CanonicalColumn, ...] = Field(min_length=1)

    def default_name(self) -> str:
        return "not_null:" + ",".join(self.columns)


class TypeRule(_Rule):
    """Each named column's raw value, when present, parses (numbers, dates)."""

    type: Literal["type"] = "type"
    columns: tuple[ParsedColumn, ...] = Field(min_length=1)

    def default_name(self) -> str:
        return "type:" + ",".join(self.columns)


class RangeRule(_Rule):
    """Each named metric, when present, lies within ``[min, max]``."""

    type: Literal["range"] = "range"
    columns: tuple[MetricColumn, ...] = Field(min_length=1)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range rule needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    def default_name(self) -> str:
        return f"range:{','.join(self.columns)}"


class AcceptedValuesRule(_Rule):
    """The column's value, when present, is one of ``values`` (or of a preset list, e.g. ISO 4217)."""

    type: Literal["accepted_values"] = "accepted_values"
    column: CanonicalColumn
    values: tuple[str, ...] | None = None
    preset: Literal["iso_4217"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AcceptedValuesRule:
        if (self.values is None) == (self.preset is None):
            raise ValueError("give exactly one of values and preset")
        return self

    def default_name(self) -> str:
        return f"accepted_values:{self.column}"


class CurrencyConsistencyRule(_Rule):
    """All rows of an advertiser carry one currency; rows in another than the advertiser's main one break it."""

    type: Literal["currency_consistency"] = "currency_consistency"

    def default_name(self) -> str:
        return "currency_consistency"


class UniqueRule(_Rule):
    """The grain is unique. Duplicates are always removed (the latest ingestion wins); this rule
    decides whether finding them is only reported (warn) or fails the partition (fail)."""

    type: Literal["unique"] = "unique"
    row_level: ClassVar[bool] = False

    def default_name(self) -> str:
        return "unique:grain"


class FreshnessRule(_Rule):
    """The partition was ingested at most ``max_age_days`` after its report date."""

    type: Literal["freshness"] = "freshness"
    max_age_days: int = Field(ge=0, le=3660)
    row_level: ClassVar[bool] = False

    def default_name(self) -> str:
        return "freshness"


class VolumeAnomalyRule(_Rule):
    """The row count stays within ``max_deviation`` (a fraction) of the median of the trailing days."""

    type: Literal["volume_anomaly"] = "volume_anomaly"
    min_history: int = Field(7, ge=1, le=365, description="Trailing days needed before judging.")
    max_deviation: float = Field(0.5, gt=0, description="Allowed |rows − median| / median.")
    row_level: ClassVar[bool] = False

    def default_name(self) -> str:
        return "volume_anomaly"


class TotalsChecksumRule(_Rule):
    """The report's totals row equals the sum of its data rows (per metric, within tolerance)."""

    type: Literal["totals_checksum"] = "totals_checksum"
    columns: tuple[MetricColumn, ...] = METRICS  # type: ignore[assignment]
    absolute_tolerance: float = Field(0.01, ge=0, description="DV360 rounds money in the totals row.")
    relative_tolerance: float = Field(1e-9, ge=0)
    row_level: ClassVar[bool] = False

    def default_name(self) -> str:
        return "totals_checksum"


QualityRule = Annotated[
    NotNullRule | TypeRule | RangeRule | AcceptedValuesRule | CurrencyConsistencyRule | UniqueRule
    | FreshnessRule | VolumeAnomalyRule | TotalsChecksumRule,
    Field(discriminator="type"),
]
ROW_RULE_TYPES = (NotNullRule, TypeRule, RangeRule, AcceptedValuesRule, CurrencyConsistencyRule)

_RULES = TypeAdapter(list[QualityRule])


class RuleSet(BaseModel):
    """A validated list of rules with unique names (what Silver takes)."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[QualityRule, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Any, ...]) -> tuple[Any, ...]:
        names = [rule.rule_name for rule in rules]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique: {', '.join(duplicated)}")
        return rules


def default_rules() -> list[QualityRule]:
    """The rules a pipeline gets when it configures none: quarantine what Gold cannot use, warn on the rest."""
    grain_ids = tuple(column for column in GRAIN if column != "source")
    return [
        NotNullRule(name="grain_present", action=RuleAction.DROP, columns=grain_ids),  # type: ignore[arg-type]
        NotNullRule(name="currency_present", action=RuleAction.DROP, columns=("currency",)),
        TypeRule(name="values_parse", action=RuleAction.DROP,
                 columns=("date", "impressions", "billable_impressions", "clicks", "conversions", "spend", "revenue")),
        NotNullRule(name="core_metrics_present", action=RuleAction.WARN, columns=("impressions", "clicks", "spend")),
        RangeRule(name="metrics_non_negative", action=RuleAction.DROP, columns=METRICS, min=0),  # type: ignore[arg-type]
        AcceptedValuesRule(name="currency_iso_4217", action=RuleAction.DROP, column="currency", preset="iso_4217"),
        CurrencyConsistencyRule(name="advertiser_single_currency", action=RuleAction.DROP),
        UniqueRule(name="grain_unique", action=RuleAction.WARN),
        VolumeAnomalyRule(name="volume_anomaly", action=RuleAction.WARN),
        TotalsChecksumRule(name="totals_match", action=RuleAction.WARN),
    ]


def rules_from_json(raw: Sequence[Any] | str | None) -> list[QualityRule]:
    """Parse ``pipelines.quality_rules``; an empty or missing list means ``default_rules()``.

    Raises ``ValidationFailed`` (field ``quality_rules``) naming the offending rule.
    """
    if raw is None or raw == [] or raw == "":
        return default_rules()
    try:
        rules = _RULES.validate_json(raw) if isinstance(raw, str) else _RULES.validate_python(list(raw))
        RuleSet(rules=tuple(rules))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                             for error in exc.errors())
        raise ValidationFailed("quality_rules", problems) from exc
    return rules


def rules_to_json(rules: Sequence[QualityRule]) -> list[dict[str, Any]]:
    """The JSON form stored in ``pipelines.quality_rules`` (round-trips through ``rules_from_json``)."""
    return _RULES.dump_python(list(rules), mode="json", exclude_none=True)
