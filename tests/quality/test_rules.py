"""Quality rules: JSON in and out of ``pipelines.quality_rules``, validation that names the problem."""

from __future__ import annotations

import json

import pytest

from etl_orchestrator.domain.enums import RuleAction
from etl_orchestrator.domain.errors import ValidationFailed
from etl_orchestrator.quality.rules import (
    NotNullRule,
    RangeRule,
    default_rules,
    rules_from_json,
    rules_to_json,
)


def test_default_rules_round_trip_through_json() -> None:
    stored = json.loads(json.dumps(rules_to_json(default_rules())))
    assert rules_from_json(stored) == default_rules()
    assert rules_from_json(json.dumps(stored)) == default_rules()


def test_an_empty_or_missing_rule_list_means_the_defaults() -> None:
    assert rules_from_json([]) == rules_from_json(None) == default_rules()


def test_a_configured_rule_set_is_taken_as_is_with_derived_names() -> None:
    rules = rules_from_json([{"type": "not_null", "columns": ["line_item_id"], "action": "fail"},
                             {"type": "range", "columns": ["clicks"], "min": 0, "max": 1e9}])
    assert rules == [NotNullRule(columns=("line_item_id",), action=RuleAction.FAIL),
                     RangeRule(columns=("clicks",), min=0, max=1e9)]
    assert [rule.rule_name for rule in rules] == ["not_null:line_item_id", "range:clicks"]


@pytest.mark.parametrize(("rules", "message"), [
    ([{"type": "volume_anomaly", "action": "drop"}], "judges the whole partition"),
    ([{"type": "range", "columns": ["spend"]}], "needs min, max or both"),
    ([{"type": "range", "columns": ["spend"], "min": 5, "max": 1}], "min must not exceed max"),
    ([{"type": "not_null", "columns": ["no_such_column"]}], "columns"),
    ([{"type": "accepted_values", "column": "currency"}], "exactly one of values and preset"),
    ([{"type": "unknown_rule"}], "unknown_rule"),
    ([{"type": "freshness", "max_age_days": 1, "name": "x"}, {"type": "unique", "name": "x"}], "unique: x"),
    ([{"type": "not_null", "columns": ["date"], "surprise": True}], "surprise"),
])
def test_invalid_rules_are_refused_naming_the_problem(rules: list, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as raised:
        rules_from_json(rules)
    assert raised.value.field == "quality_rules"
