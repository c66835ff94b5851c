"""Issue 21's evaluator shortcuts against the straightforward code: rule matching shared by sensors of one
(kind, tags) picks exactly the rules that watch each sensor, in rule order — for reading rules and ``stale``
rules, with rules that name sensors by id; priming per sensor gives the reference priming's state."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.evaluator import (
    KeyState,
    OpenAlert,
    Sample,
    SensorInfo,
    _judge_samples,
    _Matcher,
    _watches,
    evaluate,
    prime_state,
)
from tests.unit.test_evaluator import GAS, GAS2, MIXED_RULES, MIXED_SENSORS, T0, WATER, mixed_stream, rule

RULES = [
    rule(id="by-kind"),
    rule(id="by-tag", applies_to={"tags": ["trunk"]}),
    rule(id="kind-and-tag", applies_to={"kinds": ["gas_pressure"], "tags": ["trunk", "north"]}),
    rule(id="by-id", applies_to={"ids": ["G-2", "W-1"]}),
    rule(id="id-and-kind", applies_to={"ids": ["G-2", "W-1"], "kinds": ["water_pressure"]}),
    rule({"type": "stale", "after": "5m", "level": "yellow"}, id="stale-kind"),
    rule({"type": "stale", "after": "5m", "level": "yellow"}, id="stale-id", applies_to={"ids": ["W-1"]}),
]
SENSORS = {info.id: info for info in (
    SensorInfo("G-1", "gas_pressure"),
    SensorInfo("G-2", "gas_pressure"),  # named by two rules, same kind and tags as G-1
    SensorInfo("G-3", "gas_pressure", frozenset({"trunk"})),
    SensorInfo("G-4", "gas_pressure", frozenset({"trunk", "north"})),
    SensorInfo("G-5", "gas_pressure", frozenset({"north", "trunk"})),
    SensorInfo("W-1", "water_pressure", frozenset({"trunk"})),
    SensorInfo("W-2", "water_pressure", frozenset({"trunk"})),
    SensorInfo("W-3", "water_pressure"),
)}


def test_each_sensor_gets_the_rules_that_watch_it_in_rule_order():
    matcher = _Matcher(RULES, SENSORS)
    for sensor_id in [*SENSORS, *SENSORS]:  # the second round is served from the caches
        info = SENSORS[sensor_id]
        assert matcher.rules_for(sensor_id) == [r for r in matcher.reading_rules if _watches(r, info)], sensor_id
        assert [r.id for r in matcher.stale_rules if matcher.watches_stale(r, info)] == \
            [r.id for r in matcher.stale_rules if _watches(r, info)], sensor_id
    assert [r.id for r in matcher.rules_for("G-2")] == ["by-kind", "by-id"]
    assert [r.id for r in matcher.rules_for("G-1")] == ["by-kind"]
    assert [r.id for r in matcher.rules_for("W-1")] == ["by-tag", "by-id", "id-and-kind"]
    assert matcher.rules_for("NO-SUCH") == []


def test_sensors_sharing_kind_and_tags_still_get_their_own_id_rules_when_evaluated():
    readings = [Sample(sensor_id, T0, 0.5) for sensor_id in ("G-1", "G-2")]
    _, transitions = evaluate(RULES, readings, {}, T0 + timedelta(minutes=1), sensors=SENSORS)
    assert sorted((t.rule_id, t.sensor_id) for t in transitions) == [
        ("by-id", "G-2"), ("by-kind", "G-1"), ("by-kind", "G-2")]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_property_priming_equals_the_reference_priming(seed):
    """``prime_state``'s per-sensor fast path (issue 21) gives the reference's state, in its insertion order."""
    rng = random.Random(seed)
    stream = mixed_stream(rng, rng.randint(0, 300))
    history = list({(r.sensor_id, r.ts): r for r in stream}.values())  # as stored: (sensor_id, ts) is unique
    given_state = {} if rng.random() < 0.3 else {
        ("r", GAS.id): KeyState(OpenAlert("pending", "yellow", 0.41, T0 - timedelta(seconds=20)), T0),
        ("water-drop", WATER.id): KeyState(None, T0 - timedelta(hours=1), (T0 - timedelta(hours=1), 0.4)),
        ("gone", GAS2.id): KeyState(OpenAlert("firing", "red", 0.5, T0, T0), T0),
    }
    fast = prime_state(MIXED_RULES, history, given_state, sensors=MIXED_SENSORS)
    reference = dict(given_state)
    _judge_samples(reference, _Matcher(MIXED_RULES, MIXED_SENSORS), history, None)
    assert repr(list(fast.items())) == repr(list(reference.items()))  # NaN memories compare by repr
