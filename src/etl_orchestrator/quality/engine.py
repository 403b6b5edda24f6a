"""Evaluating quality rules over a Polars frame of parsed rows.

Row rules become boolean *violation* expressions (one column per rule, computed in one pass, never
a Python loop over rows) and a *reason* expression that explains a violation in words (evaluated
only for the quarantined rows). Partition rules are plain functions of counts and sums.

The frame the expressions run over has the canonical typed columns (``impressions``…), the raw
cleaned cells as ``__raw_<field>`` (so ``type`` can tell "missing" from "does not parse") and
``__main_currency`` (the advertiser's most common currency, for ``currency_consistency``).

Besides the pipeline's rules, two built-in checks always run, because Gold cannot take such rows:
``required_fields`` (grain IDs, date and currency present) and ``partition_date`` (the row's date is
the partition's date). They drop the row, and count only rows no configured rule already removed.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from etl_orchestrator.domain.enums import RuleAction
from etl_orchestrator.domain.schema import GRAIN
from etl_orchestrator.quality.currencies import ISO_4217
from etl_orchestrator.quality.report import MetricType, QualityIssue, severity_of
from etl_orchestrator.quality.rules import (
    AcceptedValuesRule,
    CurrencyConsistencyRule,
    FreshnessRule,
    NotNullRule,
    QualityRule,
    RangeRule,
    TotalsChecksumRule,
    TypeRule,
    UniqueRule,
    VolumeAnomalyRule,
)

MAIN_CURRENCY = "__main_currency"
REQUIRED_FIELDS: tuple[str, ...] = tuple(column for column in GRAIN if column != "source") + ("currency",)


def raw_column(field: str) -> str:
    """The column with a field's cleaned raw text (before parsing) while rows are judged."""
    return f"__t_{field}"


@dataclass(frozen=True)
class RowCheck:
    """One row rule, ready to evaluate: ``flag`` names its violation column."""

    rule: str
    action: RuleAction
    metric_type: str
    flag: str
    violation: pl.Expr
    reason: pl.Expr
    builtin: bool = False


def _any(exprs: Sequence[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(exprs) if len(exprs) > 1 else exprs[0]


def _reasons(parts: Sequence[pl.Expr]) -> pl.Expr:
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)


def _quoted(field: str) -> pl.Expr:
    return pl.col(raw_column(field)).fill_null("")


def _check_for(rule: QualityRule, flag: str) -> RowCheck | None:
    name, action = rule.rule_name, rule.action
    if isinstance(rule, NotNullRule):
        missing = [pl.col(column).is_null() for column in rule.columns]
        reason = _reasons([pl.when(pl.col(column).is_null()).then(pl.lit(f"{column} is missing"))
                           for column in rule.columns])
        return RowCheck(name, action, MetricType.MISSING_FIELDS, flag, _any(missing), reason)
    if isinstance(rule, TypeRule):
        invalid = {column: pl.col(raw_column(column)).is_not_null() & pl.col(column).is_null()
                   for column in rule.columns}
        reason = _reasons([pl.when(bad).then(pl.format(f"{column} does not parse: '{{}}'", _quoted(column)))
                           for column, bad in invalid.items()])
        return RowCheck(name, action, MetricType.INVALID_TYPES, flag, _any(list(invalid.values())), reason)
    if isinstance(rule, RangeRule):
        outside = {}
        for column in rule.columns:
            value = pl.col(column).cast(pl.Float64)
            conditions = []
            if rule.min is not None:
                conditions.append(value < rule.min)
            if rule.max is not None:
                conditions.append(value > rule.max)
            outside[column] = _any(conditions).fill_null(False)
        bounds = f"[{'' if rule.min is None else rule.min}, {'' if rule.max is None else rule.max}]"
        reason = _reasons([pl.when(bad).then(pl.format(f"{column} {{}} outside {bounds}", _quoted(column)))
                           for column, bad in outside.items()])
        return RowCheck(name, action, MetricType.OUT_OF_RANGE, flag, _any(list(outside.values())), reason)
    if isinstance(rule, AcceptedValuesRule):
        accepted = sorted(ISO_4217) if rule.preset == "iso_4217" else list(rule.values or ())
        value = pl.col(rule.column)
        metric = MetricType.UNKNOWN_CURRENCY if rule.column == "currency" else MetricType.ACCEPTED_VALUES
        violation = value.is_not_null() & ~value.is_in(accepted)
        reason = pl.format(f"{rule.column} '{{}}' is not an accepted value", value)
        return RowCheck(name, action, metric, flag, violation, reason)
    if isinstance(rule, CurrencyConsistencyRule):
        violation = (pl.col("currency").is_not_null() & pl.col(MAIN_CURRENCY).is_not_null()
                     & (pl.col("currency") != pl.col(MAIN_CURRENCY)))
        reason = pl.format("currency {} differs from advertiser {}'s currency {}",
                           pl.col("currency"), pl.col("advertiser_id"), pl.col(MAIN_CURRENCY))
        return RowCheck(name, action, MetricType.CURRENCY_INCONSISTENT, flag, violation, reason)
    return None  # a partition rule


def row_checks(rules: Sequence[QualityRule], partition_date: date) -> list[RowCheck]:
    """The configured row rules in order, then the two built-in checks."""
    checks = [check for index, rule in enumerate(rules)
              if (check := _check_for(rule, f"__v{index}")) is not None]
    configured_drop = [pl.col(check.flag) for check in checks if check.action == RuleAction.DROP]
    not_dropped = ~_any(configured_drop) if configured_drop else pl.lit(True)
    missing = _any([pl.col(column).is_null() for column in REQUIRED_FIELDS])
    checks.append(RowCheck(
        "required_fields", RuleAction.DROP, MetricType.MISSING_FIELDS, "__v_required", missing & not_dropped,
        _reasons([pl.when(pl.col(column).is_null()).then(pl.lit(f"{column} is missing"))
                  for column in REQUIRED_FIELDS]), builtin=True))
    elsewhere = pl.col("date").is_not_null() & (pl.col("date") != pl.lit(partition_date))
    checks.append(RowCheck(
        "partition_date", RuleAction.DROP, MetricType.WRONG_PARTITION, "__v_date", elsewhere & not_dropped,
        pl.format(f"date {{}} is not the partition's date {partition_date.isoformat()}", pl.col("date")),
        builtin=True))
    return checks


def main_currency_by_advertiser(frame: pl.LazyFrame) -> pl.LazyFrame:
    """advertiser_id → its most common currency (ties: alphabetical), from rows that have both."""
    return (frame.filter(pl.col("advertiser_id").is_not_null() & pl.col("currency").is_not_null())
            .group_by("advertiser_id", "currency").agg(pl.len().alias("rows"))
            .sort(["advertiser_id", "rows", "currency"], descending=[False, True, False])
            .group_by("advertiser_id", maintain_order=True).agg(pl.col("currency").first().alias(MAIN_CURRENCY)))


def row_issues(checks: Sequence[RowCheck], counts: Mapping[str, int], total: int) -> list[QualityIssue]:
    """One issue per row check that found rows."""
    issues = []
    for check in checks:
        count = int(counts.get(check.flag, 0))
        if count:
            issues.append(QualityIssue(
                metric_type=check.metric_type, count=count, severity=severity_of(check.action).value,
                action=check.action.value, rule=check.rule,
                details={"rows_checked": total, **({"builtin": True} if check.builtin else {})}))
    return issues


# ---------------------------------------------------------------------------------- partition rules


def duplicate_issue(rules: Sequence[QualityRule], duplicates: int) -> QualityIssue | None:
    if not duplicates:
        return None
    rule = next((rule for rule in rules if isinstance(rule, UniqueRule)), None)
    action = rule.action if rule else RuleAction.WARN
    return QualityIssue(metric_type=MetricType.DUPLICATES, count=duplicates,
                        severity="info" if action == RuleAction.WARN else severity_of(action).value,
                        action=action.value, rule=rule.rule_name if rule else "dedupe",
                        details={"grain": list(GRAIN), "kept": "latest ingestion"})


def freshness_issues(rules: Sequence[QualityRule], partition_date: date,
                     ingested_on: date | None) -> list[QualityIssue]:
    issues = []
    for rule in rules:
        if isinstance(rule, FreshnessRule) and ingested_on is not None:
            age = (ingested_on - partition_date).days
            if age > rule.max_age_days:
                issues.append(QualityIssue(
                    metric_type=MetricType.STALE_DATA, count=1, severity=severity_of(rule.action).value,
                    action=rule.action.value, rule=rule.rule_name,
                    details={"age_days": age, "max_age_days": rule.max_age_days}))
    return issues


def volume_issues(rules: Sequence[QualityRule], rows: int, trailing_row_counts: Sequence[int]) -> list[QualityIssue]:
    issues = []
    for rule in rules:
        if not isinstance(rule, VolumeAnomalyRule) or len(trailing_row_counts) < rule.min_history:
            continue
        median = statistics.median(trailing_row_counts)
        deviation = abs(rows - median) / median if median else (0.0 if rows == 0 else float("inf"))
        if deviation > rule.max_deviation:
            issues.append(QualityIssue(
                metric_type=MetricType.VOLUME_ANOMALY, count=1, severity=severity_of(rule.action).value,
                action=rule.action.value, rule=rule.rule_name,
                details={"rows": rows, "trailing_median": median, "deviation": round(deviation, 4)
                         if deviation != float("inf") else "inf", "max_deviation": rule.max_deviation}))
    return issues


def totals_issues(rules: Sequence[QualityRule], totals: Mapping[str, float | None],
                  sums: Mapping[str, float]) -> list[QualityIssue]:
    """``totals``: the report's totals row per canonical metric (parsed); ``sums``: the data rows' sums."""
    issues = []
    for rule in rules:
        if not isinstance(rule, TotalsChecksumRule):
            continue
        mismatches: dict[str, Any] = {}
        for column in rule.columns:
            expected = totals.get(column)
            if expected is None:
                continue
            actual = float(sums.get(column, 0.0))
            if abs(expected - actual) > rule.absolute_tolerance + rule.relative_tolerance * abs(expected):
                mismatches[column] = {"totals_row": expected, "sum_of_rows": actual}
        if mismatches:
            issues.append(QualityIssue(
                metric_type=MetricType.TOTALS_MISMATCH, count=len(mismatches), severity=severity_of(rule.action).value,
                action=rule.action.value, rule=rule.rule_name, details={"columns": mismatches}))
    return issues
