"""The pure alert evaluator: (rules, readings, state, now) → (new state, transitions), no database.

Semantics (DESIGN §5): readings are judged in event time (their ``ts``), in ts order per sensor; a
breach opens a ``pending`` alert that fires once the breach has lasted ``for`` (a pending alert whose
breach ends first is ``dropped``); a firing alert follows the level up and down and resolves when the
``clear`` condition holds (hysteresis) or, without ``clear``, when the condition no longer breaches.
There is at most one open alert per (rule, sensor): further breaches update it. ``stale`` conditions
use the wall clock ``now``. Readings no newer than the last one judged for a (rule, sensor) are late:
they are ignored, so a late reading can neither rewind nor reopen an episode.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alerts.rules_schema import (
    LEVEL_RANK,
    AqiCondition,
    RangeCondition,
    RateCondition,
    RepeatCondition,
    RuleSpec,
    StaleCondition,
    ThresholdCondition,
    breaches,
)

PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"

#: Transition kinds, in the order an episode can meet them.
TRANSITION_KINDS: tuple[str, ...] = ("pending", "fired", "updated", "level_changed", "resolved", "dropped")


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading as the evaluator sees it."""

    sensor_id: str
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What rules match on, and when the sensor last reported (for ``stale``)."""

    id: str
    kind: str
    tags: frozenset[str] = frozenset()
    last_ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """The open alert of one (rule, sensor): ``pending`` or ``firing``."""

    state: str
    level: str
    value: float | None
    started_at: datetime
    fired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyState:
    """Everything remembered for one (rule, sensor) between readings."""

    alert: OpenAlert | None = None
    #: The ts of the last reading judged: older or equal readings are late and ignored.
    last_ts: datetime | None = None
    #: What the condition keeps of earlier readings (``rate``: the previous reading; ``repeat``: levels).
    memory: tuple = ()


Key = tuple[str, str]
State = dict[Key, KeyState]


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of an alert; ``ts`` is when it happened (event time, wall clock for ``stale``)."""

    kind: str
    rule_id: str
    sensor_id: str
    level: str
    value: float | None
    ts: datetime
    started_at: datetime


class UnsupportedCondition(Exception):
    """A rule whose condition type this evaluator cannot judge."""

    def __init__(self, rule_id: str, condition_type: str) -> None:
        super().__init__(f"rule {rule_id!r}: condition type {condition_type!r} cannot be evaluated")
        self.rule_id = rule_id
        self.condition_type = condition_type


# --- judges: one per condition type --------------------------------------------------------------
# A judge sees the condition, the memory of its (rule, sensor), the new reading and the sensor kind.
# It returns the verdict — (level or None when not breaching, the measured value) — or None when the
# reading alone cannot decide (the first reading of a rate), and the new memory.

Verdict = tuple[str | None, float | None] | None
Judged = tuple[Verdict, tuple]
Judge = Callable[[Any, tuple, Sample, str], Judged]


def _judge_threshold(cond: ThresholdCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    return (cond.levels.breached(sample.value, cond.op), sample.value), memory


def _judge_range(cond: RangeCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    outside = sample.value < cond.low or sample.value > cond.high
    return (cond.level if outside else None, sample.value), memory


def _judge_rate(cond: RateCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    remembered = (sample.ts, sample.value)
    if not memory:
        return None, remembered
    previous_ts, previous_value = memory
    seconds = (sample.ts - previous_ts).total_seconds()
    rate = (sample.value - previous_value) / seconds * cond.per.total_seconds()
    return (cond.levels.breached(rate, cond.op), rate), remembered


def _judge_repeat(cond: RepeatCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    recent = (*memory, cond.levels.breached(sample.value, cond.op))[-cond.count :]
    keep = recent[1:] if len(recent) == cond.count else recent
    if len(recent) < cond.count or None in recent:
        return (None, sample.value), keep
    # The highest level that every one of the last `count` readings breached.
    return (min(recent, key=LEVEL_RANK.__getitem__), sample.value), keep


#: Sensor kinds whose readings are AQI pollutants, with the pollutant key of ``alerts.aqi``.
AQI_POLLUTANTS: Mapping[str, str] = {
    "air_pm25": "pm25",
    "air_pm10": "pm10",
    "air_so2": "so2",
    "air_no2": "no2",
    "air_co": "co",
    "air_o3": "o3",
}


def _judge_aqi(cond: AqiCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    # AQI = max IAQI, so "AQI at or above a category" holds exactly when some pollutant's IAQI is at or
    # above it: each pollutant sensor is judged on its own IAQI, its reading taken as the concentration
    # averaged over the rule's period (monitoring stations publish such period averages).
    from alerts.aqi import aqi

    pollutant = AQI_POLLUTANTS.get(kind)
    if pollutant is None:
        return None, memory
    index = aqi({pollutant: sample.value}, averaging=cond.averaging)
    level = next((level for level, category in cond.levels.limits() if index.category >= category), None)
    return (level, float(index.aqi)), memory


JUDGES: Mapping[str, Judge] = {
    "threshold": _judge_threshold,
    "range": _judge_range,
    "rate": _judge_rate,
    "repeat": _judge_repeat,
    "aqi": _judge_aqi,
}


def history_depth(rules: Iterable[RuleSpec]) -> int:
    """How many earlier readings per sensor ``prime_state`` needs (memory and the late-reading mark)."""
    depth = 1
    for rule in rules:
        if isinstance(rule.condition, RepeatCondition):
            depth = max(depth, rule.condition.count - 1)
    return depth


def _aqi_available() -> bool:
    """Whether the HJ 633-2012 module (``alerts.aqi``, DESIGN §10) is present to judge ``aqi`` rules."""
    return importlib.util.find_spec("alerts.aqi") is not None


def supported(rule: RuleSpec) -> bool:
    """Whether this evaluator can judge the rule's condition (``stale`` is judged on the wall clock)."""
    if isinstance(rule.condition, AqiCondition):
        return _aqi_available()
    return rule.condition.type in JUDGES or isinstance(rule.condition, StaleCondition)


# --- the state machine of one (rule, sensor) -----------------------------------------------------


def _advance(
    alert: OpenAlert | None,
    rule: RuleSpec,
    sensor_id: str,
    ts: datetime,
    level: str | None,
    value: float | None,
    out: list[Transition],
    since: datetime | None = None,
) -> OpenAlert | None:
    """Move one (rule, sensor) on by one verdict; ``since`` is when the breach began (default ``ts``)."""

    def emit(kind: str, level: str, started_at: datetime) -> None:
        out.append(Transition(kind, rule.id, sensor_id, level, value, ts, started_at))

    if alert is None:
        if level is None:
            return None
        started_at = since or ts
        if ts - started_at >= rule.for_duration:
            emit("fired", level, started_at)
            return OpenAlert(FIRING, level, value, started_at, ts)
        emit("pending", level, started_at)
        return OpenAlert(PENDING, level, value, started_at)

    if alert.state == PENDING:
        if level is None:
            emit("dropped", alert.level, alert.started_at)
            return None
        if ts - alert.started_at >= rule.for_duration:
            emit("fired", level, alert.started_at)
            return replace(alert, state=FIRING, level=level, value=value, fired_at=ts)
        emit("updated", level, alert.started_at)
        return replace(alert, level=level, value=value)

    clear = rule.clear
    cleared = level is None if clear is None or value is None else breaches(value, clear.op, clear.value)
    if cleared:
        emit("resolved", alert.level, alert.started_at)
        return None
    # Inside the hysteresis band no level is breached: the alert keeps its last level.
    new_level = level or alert.level
    emit("level_changed" if new_level != alert.level else "updated", new_level, alert.started_at)
    return replace(alert, level=new_level, value=value)


class _Matcher:
    """Which rules watch which sensor, worked out once per sensor."""

    def __init__(self, rules: Sequence[RuleSpec], sensors: Mapping[str, SensorInfo]) -> None:
        self.reading_rules = [rule for rule in rules if not isinstance(rule.condition, StaleCondition)]
        self.stale_rules = [rule for rule in rules if isinstance(rule.condition, StaleCondition)]
        self.sensors = sensors
        self._cache: dict[str, list[RuleSpec]] = {}

    def rules_for(self, sensor_id: str) -> list[RuleSpec]:
        found = self._cache.get(sensor_id)
        if found is None:
            info = self.sensors.get(sensor_id)
            found = [] if info is None else [rule for rule in self.reading_rules if _watches(rule, info)]
            self._cache[sensor_id] = found
        return found


def _watches(rule: RuleSpec, info: SensorInfo) -> bool:
    return rule.applies_to.matches(info.id, info.kind, info.tags)


def _check_rules(rules: Sequence[RuleSpec]) -> None:
    for rule in rules:
        if not supported(rule):
            raise UnsupportedCondition(rule.id, rule.condition.type)


def _judge_samples(
    state: State, matcher: _Matcher, samples: Iterable[Sample], out: list[Transition] | None
) -> None:
    """Feed samples in ts order; with ``out`` None only memories and late-reading marks move (priming)."""
    for sample in sorted(samples, key=lambda s: (s.ts, s.sensor_id)):
        info = matcher.sensors.get(sample.sensor_id)
        if info is None:
            continue  # not a known sensor: ingestion refuses those
        for rule in matcher.rules_for(sample.sensor_id):
            key = (rule.id, sample.sensor_id)
            ks = state.get(key)
            if ks is None:
                ks = KeyState()
            elif out is not None and ks.last_ts is not None and sample.ts <= ks.last_ts:
                continue  # late reading
            verdict, memory = JUDGES[rule.condition.type](rule.condition, ks.memory, sample, info.kind)
            if verdict is not None and rule.active_hours is not None and not rule.active_hours.contains(sample.ts):
                verdict = (None, None)  # outside the rule's hours its alert ends, whatever the value
            alert = ks.alert
            if verdict is not None and out is not None:
                alert = _advance(alert, rule, sample.sensor_id, sample.ts, verdict[0], verdict[1], out)
            last_ts = sample.ts if ks.last_ts is None else max(ks.last_ts, sample.ts)
            state[key] = KeyState(alert, last_ts, memory)


def _judge_stale(
    state: State, matcher: _Matcher, last_seen: Mapping[str, datetime], now: datetime, out: list[Transition]
) -> None:
    for rule in matcher.stale_rules:
        after: timedelta = rule.condition.after
        level = rule.condition.level
        for info in matcher.sensors.values():
            seen = last_seen.get(info.id)
            if seen is None or not _watches(rule, info):
                continue  # a sensor that never reported is not commissioned yet: not "offline"
            key = (rule.id, info.id)
            ks = state.get(key)
            alert = ks.alert if ks else None
            silent_since = seen + after
            is_stale = now >= silent_since
            if alert is None and not is_stale:
                continue
            if alert is not None and alert.state == FIRING and is_stale:
                continue  # still offline: nothing new to say
            alert = _advance(alert, rule, info.id, now, level if is_stale else None, None, out, silent_since)
            state[key] = KeyState(alert, ks.last_ts if ks else None)


def _retire_orphans(
    state: State,
    rules: Sequence[RuleSpec],
    sensors: Mapping[str, SensorInfo],
    now: datetime,
    out: list[Transition],
) -> None:
    """Close the open alerts of rules that are gone or disabled, or that no longer watch their sensor."""
    by_id = {rule.id: rule for rule in rules}
    for key, ks in list(state.items()):
        alert = ks.alert
        if alert is None:
            continue
        rule = by_id.get(key[0])
        info = sensors.get(key[1])
        if rule is not None and info is not None and _watches(rule, info):
            continue
        kind = "dropped" if alert.state == PENDING else "resolved"
        out.append(Transition(kind, key[0], key[1], alert.level, alert.value, now, alert.started_at))
        del state[key]


def evaluate(
    rules: Sequence[RuleSpec],
    readings: Iterable[Sample],
    state: Mapping[Key, KeyState],
    now: datetime,
    *,
    sensors: Mapping[str, SensorInfo],
) -> tuple[State, list[Transition]]:
    """Judge ``readings`` against ``rules``; returns the new state and the transitions, in order.

    ``sensors`` gives every known sensor (kind and tags for matching, ``last_ts`` for ``stale``);
    readings of sensors not in it are ignored. ``state`` is not modified. Raises
    ``UnsupportedCondition`` for a rule whose condition type cannot be judged.
    """
    _check_rules(rules)
    new_state: State = dict(state)
    out: list[Transition] = []
    matcher = _Matcher(rules, sensors)
    readings = list(readings)
    _judge_samples(new_state, matcher, readings, out)
    if matcher.stale_rules:
        last_seen = {sensor_id: info.last_ts for sensor_id, info in sensors.items() if info.last_ts}
        for sample in readings:
            seen = last_seen.get(sample.sensor_id)
            if seen is None or sample.ts > seen:
                last_seen[sample.sensor_id] = sample.ts
        _judge_stale(new_state, matcher, last_seen, now, out)
    _retire_orphans(new_state, rules, sensors, now, out)
    return new_state, out


def prime_state(
    rules: Sequence[RuleSpec],
    history: Iterable[Sample],
    state: Mapping[Key, KeyState],
    *,
    sensors: Mapping[str, SensorInfo],
) -> State:
    """Restore what the evaluator remembers of readings judged in an earlier run.

    ``history`` holds, per sensor, the last ``history_depth(rules)`` readings already evaluated. They
    rebuild the memory of ``rate``/``repeat`` conditions and the late-reading mark; open alerts in
    ``state`` are kept as they are and no transition is produced.
    """
    _check_rules(rules)
    new_state: State = dict(state)
    _judge_samples(new_state, _Matcher(rules, sensors), history, None)
    return new_state


def open_alerts(state: Mapping[Key, KeyState]) -> dict[Key, OpenAlert]:
    """The open (pending or firing) alerts of a state."""
    return {key: ks.alert for key, ks in state.items() if ks.alert is not None}


def group_by_key(transitions: Iterable[Transition]) -> dict[Key, list[Transition]]:
    """Transitions per (rule, sensor), each list in order."""
    grouped: dict[Key, list[Transition]] = defaultdict(list)
    for transition in transitions:
        grouped[transition.rule_id, transition.sensor_id].append(transition)
    return dict(grouped)
