"""The rule document of DESIGN §5: what validates, and errors that name the offending field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from alerts.rules_loader import RULES_FOLDER, load_rule_folder
from alerts.rules_schema import (
    AqiCondition,
    RangeCondition,
    RateCondition,
    RepeatCondition,
    RuleSpec,
    RuleValidationError,
    StaleCondition,
    ThresholdCondition,
    format_duration,
    format_rule_error,
    parse_duration,
    rule_document,
    validate_rule,
)

CONTRACT_EXAMPLE = {
    "id": "gas-pressure-high",
    "name": {"zh": "燃气管网压力超限", "en": "Gas main over-pressure"},
    "applies_to": {"kinds": ["gas_pressure"]},
    "condition": {"type": "threshold", "op": ">", "levels": {"yellow": 0.40, "orange": 0.42, "red": 0.45}},
    "for": "2m",
    "clear": {"op": "<", "value": 0.38},
    "incident": {"category": "L01", "auto_create": True},
    "labels": {"family": "lifeline"},
}


def with_changes(change) -> dict:
    doc = copy.deepcopy(CONTRACT_EXAMPLE)
    change(doc)
    return doc


def test_contract_example_validates():
    spec = validate_rule(CONTRACT_EXAMPLE)
    assert spec.id == "gas-pressure-high"
    assert isinstance(spec.condition, ThresholdCondition)
    assert spec.condition.levels.limits() == (("red", 0.45), ("orange", 0.42), ("yellow", 0.40))
    assert spec.for_duration == timedelta(minutes=2)
    assert spec.incident is not None and spec.incident.auto_create
    assert spec.applies_to.matches("GAS-P-0001", "gas_pressure", frozenset())
    assert not spec.applies_to.matches("WS-P-0001", "water_pressure", frozenset())


def test_rule_document_round_trips_in_contract_shape():
    doc = rule_document(validate_rule(CONTRACT_EXAMPLE))
    assert doc == CONTRACT_EXAMPLE
    assert next(iter(doc["condition"])) == "type"
    assert validate_rule(doc) == validate_rule(CONTRACT_EXAMPLE)


@pytest.mark.parametrize(
    ("condition", "model"),
    [
        ({"type": "range", "low": 6.0, "high": 9.0, "level": "yellow"}, RangeCondition),
        ({"type": "rate", "per": "1m", "op": ">", "levels": {"yellow": 0.05, "red": 0.1}}, RateCondition),
        ({"type": "repeat", "count": 3, "op": ">", "levels": {"yellow": 0.4}}, RepeatCondition),
        ({"type": "stale", "after": "15m", "level": "yellow"}, StaleCondition),
        ({"type": "aqi", "averaging": "1h", "levels": {"yellow": 3, "orange": 4, "red": 5}}, AqiCondition),
    ],
)
def test_every_condition_type_of_the_contract_validates(condition, model):
    def change(doc):
        doc["condition"] = condition
        doc.pop("clear")

    assert isinstance(validate_rule(with_changes(change)).condition, model)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("0s", 0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["2 min", "m2", "", "1.5m", "30", "-1m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["condition"]["levels"].update(red=0.30), "condition.levels"),
        (lambda d: d["condition"]["levels"].update(red=float("nan")), "condition.levels.red"),
        (lambda d: d["condition"]["levels"].update(red="high"), "condition.levels.red"),
        (lambda d: d["condition"].update(levels={}), "condition.levels"),
        (lambda d: d["condition"].update(levels={"purple": 1}), "condition.levels.purple"),
        (lambda d: d["condition"].update(op="=="), "condition.op"),
        (lambda d: d["condition"].pop("op"), "condition.op"),
        (lambda d: d["condition"].update(type="fuzzy"), "condition.type"),
        (
            lambda d: d.update(condition={"type": "range", "low": 9, "high": 6, "level": "red"}, clear=None),
            "condition.high",
        ),
        (
            lambda d: d.update(condition={"type": "repeat", "count": 0, "op": ">", "levels": {"red": 1}}),
            "condition.count",
        ),
        (lambda d: d.update(condition={"type": "stale", "after": "0s"}, clear=None), "condition.after"),
        (lambda d: d.update({"for": "two minutes"}), "for"),
        (lambda d: d.update(clear={"op": "<", "value": 0.41}), "clear"),
        (lambda d: d.update(clear={"op": ">", "value": 0.30}), "clear"),
        (lambda d: d.update(condition={"type": "stale", "after": "15m"}), "clear"),
        (lambda d: d.pop("name"), "name"),
        (lambda d: d["name"].pop("en"), "name.en"),
        (lambda d: d.update(applies_to={}), "applies_to"),
        (lambda d: d.update(applies_to={"kinds": "gas_pressure"}), "applies_to.kinds"),
        (lambda d: d.update(incident={"auto_create": True}), "incident.category"),
        (lambda d: d.update(id="has spaces"), "id"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_a_bad_rule_names_the_field(change, field):
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(with_changes(change))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_clear_on_the_limit_is_allowed_only_when_it_cannot_overlap():
    assert validate_rule(with_changes(lambda d: d.update(clear={"op": "<", "value": 0.40}))).clear
    with pytest.raises(RuleValidationError, match=r"^clear: "):
        validate_rule(
            with_changes(
                lambda d: (d["condition"].update(op=">="), d.update(clear={"op": "<=", "value": 0.40}))
            )
        )


def test_falling_conditions_order_their_limits_downwards():
    def falling(doc):
        doc["condition"] = {"type": "threshold", "op": "<", "levels": {"yellow": 0.25, "red": 0.15}}
        doc["clear"] = {"op": ">", "value": 0.28}

    assert validate_rule(with_changes(falling)).condition.levels.breached(0.2, "<") == "yellow"
    with pytest.raises(RuleValidationError, match=r"^condition\.levels: "):
        validate_rule(with_changes(lambda d: (falling(d), d["condition"]["levels"].update(red=0.3))))


def test_all_given_criteria_of_applies_to_must_match():
    spec = validate_rule(
        with_changes(lambda d: d.update(applies_to={"kinds": ["gas_pressure"], "tags": ["district-1"]}))
    )
    assert spec.applies_to.matches("GAS-P-1", "gas_pressure", frozenset({"district-1", "x"}))
    assert not spec.applies_to.matches("GAS-P-1", "gas_pressure", frozenset({"district-2"}))
    assert not spec.applies_to.matches("WS-P-1", "water_pressure", frozenset({"district-1"}))


def test_a_document_that_is_not_a_mapping_is_refused():
    with pytest.raises(RuleValidationError):
        validate_rule(["not", "a", "rule"])


def test_format_rule_error_reads_field_then_message():
    with pytest.raises(ValidationError) as caught:
        RuleSpec.model_validate(
            with_changes(lambda d: d["condition"]["levels"].update(red=None, orange=None, yellow=None))
        )
    assert format_rule_error(caught.value) == (
        "condition.levels: give a limit for at least one of red, orange, yellow, blue"
    )


def test_shipped_rule_files_validate_with_the_contract_gas_rule():
    rules, errors = load_rule_folder(RULES_FOLDER)
    assert errors == []
    by_id = {rule.id: rule for rule in rules}
    gas = by_id["gas-pressure-high"]
    assert gas.applies_to.kinds == ("gas_pressure",)
    assert gas.condition.levels.limits() == (("red", 0.45), ("orange", 0.42), ("yellow", 0.40))
    assert gas.clear is not None and (gas.clear.op, gas.clear.value) == ("<", 0.38)
    assert gas.for_duration == timedelta(seconds=30)
    assert gas.incident is not None and (gas.incident.category, gas.incident.auto_create) == ("L01", ("red", "orange"))
    assert gas.labels == {"family": "lifeline"}
    concentration = by_id["gas-concentration-high"]
    assert concentration.condition.levels.limits() == (("red", 50), ("orange", 25), ("yellow", 20))


def test_the_shipped_rule_set_watches_every_sensor_kind_of_the_demo_city():
    from alerts.simulator import PROFILES

    rules, _ = load_rule_folder(RULES_FOLDER)
    value_kinds = {kind for rule in rules if rule.condition.type != "stale" for kind in rule.applies_to.kinds}
    stale_kinds = {kind for rule in rules if rule.condition.type == "stale" for kind in rule.applies_to.kinds}
    assert value_kinds == set(PROFILES) == stale_kinds


def test_lifeline_rules_auto_file_red_and_orange_and_environment_rules_wait_for_triage():
    rules, _ = load_rule_folder(RULES_FOLDER)
    for rule in rules:
        if rule.incident is None:
            continue
        family = rule.labels.get("family")
        if family == "lifeline":
            assert rule.incident.category.startswith("L") and rule.incident.auto_creates("orange"), rule.id
            assert not rule.incident.auto_creates("yellow") and not rule.incident.auto_creates("blue"), rule.id
        else:
            assert family == "environment" and rule.incident.category.startswith("E"), rule.id
            assert not any(rule.incident.auto_creates(level) for level in ("red", "orange", "yellow", "blue"))


def test_auto_create_takes_a_list_of_levels_and_names_the_field_when_wrong():
    incident = {"category": "L01", "auto_create": ["orange", "red"]}
    spec = validate_rule(with_changes(lambda d: d.update(incident=incident)))
    assert spec.incident.auto_create == ("red", "orange")
    assert rule_document(spec)["incident"] == {"category": "L01", "auto_create": ["red", "orange"]}
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(with_changes(lambda d: d.update(incident={"category": "L01", "auto_create": ["purple"]})))
    assert caught.value.field == "incident.auto_create"


def test_active_hours_wrap_midnight_in_local_time():
    night = validate_rule(with_changes(lambda d: d.update(active_hours={"start": "22:00", "end": "06:00"})))
    hours = night.active_hours
    assert hours.contains(datetime(2025, 3, 1, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    assert not hours.contains(datetime(2025, 3, 1, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(with_changes(lambda d: d.update(active_hours={"start": "25:00", "end": "06:00"})))
    assert caught.value.field == "active_hours.start"


def test_load_rule_folder_reports_bad_files_and_keeps_the_good_ones(tmp_path):
    (tmp_path / "a_good.yaml").write_text(
        "- id: ok-rule\n  name: {zh: 好, en: good}\n  applies_to: {kinds: [noise_db]}\n"
        "  condition: {type: threshold, op: '>', levels: {yellow: 70}}\n"
        "- id: bad-rule\n  name: {zh: 坏, en: bad}\n  applies_to: {kinds: [noise_db]}\n"
        "  condition: {type: threshold, op: '>', levels: {yellow: seventy}}\n",
        encoding="utf-8",
    )
    (tmp_path / "b_broken.yaml").write_text("- id: [unclosed\n", encoding="utf-8")
    (tmp_path / "c_dup.yml").write_text(
        "rules:\n- id: ok-rule\n  name: {zh: 重, en: dup}\n  applies_to: {ids: [X]}\n"
        "  condition: {type: stale, after: 5m}\n",
        encoding="utf-8",
    )
    rules, errors = load_rule_folder(tmp_path)
    assert [rule.id for rule in rules] == ["ok-rule"]
    messages = [str(error) for error in errors]
    assert messages[0].startswith("a_good.yaml rule #2: condition.levels.yellow: ")
    assert messages[1].startswith("b_broken.yaml: cannot read the file")
    assert messages[2] == "c_dup.yml rule #1: id 'ok-rule' is already defined in a_good.yaml"
