"""The pure alert evaluator: (rules, readings, state, now) → (new state, transitions), no database.

Semantics (DESIGN §5): readings are judged in event time (their ``ts``), in ts order per sensor; a
breach opens a ``pending`` alert that fires once the breach has lasted ``for`` (a pending alert whose
breach ends first is ``dropped``); a firing alert follows the level up and down and resolves when the
``clear`` condition holds (hysteresis) or, without ``clear``, when the condition no longer breaches.
There is at most one open alert per (rule, sensor): further breaches update it. ``stale`` conditions
compare the wall clock ``now`` with when the sensor's newest reading was *received* (a backlog arriving
late shows the device alive, whatever its ``ts``). Readings no newer than the last one judged for a
(rule, sensor) are late: they are ignored, so a late reading can neither rewind nor reopen an episode.

``evaluate`` takes a fast path (readings grouped per sensor, constants of each rule worked out once per
call, each (rule, sensor) episode run in local variables); ``evaluate_reference`` is the straightforward
per-reading evaluator it is tested against (same state, same transitions, same order).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.rules_schema import (
    LEVEL_RANK,
    RISING_OPS,
    ActiveHours,
    AqiCondition,
    Levels,
    RangeCondition,
    RateCondition,
    RepeatCondition,
    RuleSpec,
    StaleCondition,
    ThresholdCondition,
    breaches,
)

_HOUR = timedelta(hours=1)
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
    #: When it was received (None: as soon as it was measured, at ``ts``); ``stale`` judges this.
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What rules match on, and when the sensor last reported (for ``stale``)."""

    id: str
    kind: str
    tags: frozenset[str] = frozenset()
    last_ts: datetime | None = None
    #: When its newest reading was received; None: unknown, ``last_ts`` stands in for it.
    last_received: datetime | None = None


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


def _floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def aqi_window(condition: AqiCondition, pollutant: str) -> tuple[int, int, str] | None:
    """How an ``aqi`` rule averages ``pollutant`` (HJ 633-2012): (hourly means averaged, how many of them a
    valid mean needs, the ``alerts.aqi`` averaging of its breakpoints); None when the rule does not judge it
    (``8h`` judges O3 alone). O3 under ``24h`` is judged by its 8-hour mean, as the daily AQI takes it."""
    if condition.averaging == "1h":
        return 1, 1, "1h"
    if pollutant == "o3":
        from alerts.aqi import MIN_HOURS_8H

        return 8, MIN_HOURS_8H, "24h"  # the 24-hour table's O3 row is the 8-hour one
    if condition.averaging == "24h":
        from alerts.aqi import MIN_HOURS_24H

        return 24, MIN_HOURS_24H, "24h"
    return None


def aqi_memory(
    condition: AqiCondition, kind: str, hour: datetime, total: float, count: int,
    means: Iterable[tuple[datetime, float]],
) -> tuple:
    """The memory of an ``aqi`` (rule, sensor) as the evaluator keeps it: the clock hour being filled (UTC
    start, sum and count of its readings so far) and the means of the complete hours still in the window.
    The engine rebuilds it from stored readings (``alerts.engine``) between runs."""
    pollutant = AQI_POLLUTANTS.get(kind)
    window = None if pollutant is None else aqi_window(condition, pollutant)
    span = 1 if window is None else window[0]
    kept = tuple((h, m) for h, m in sorted(means) if hour - span * _HOUR <= h < hour)
    return (hour, total, count, kept)


def _judge_aqi(cond: AqiCondition, memory: tuple, sample: Sample, kind: str) -> Judged:
    # AQI = max IAQI, so "AQI at or above a category" holds exactly when some pollutant's IAQI is at or
    # above it: each pollutant sensor is judged on its own IAQI, of its mean over the rule's averaging
    # (HJ 633-2012: 1-hour means of clock hours; 24-hour and 8-hour means of those). A verdict comes as an
    # hour completes, with the first reading of a later hour; within an hour readings are only summed.
    from alerts.aqi import aqi, reported

    pollutant = AQI_POLLUTANTS.get(kind)
    window = None if pollutant is None else aqi_window(cond, pollutant)
    if window is None:
        return None, memory
    hour = _floor_hour(sample.ts)
    if not memory:
        return None, (hour, sample.value, 1, ())
    current, total, count, means = memory
    if hour <= current:
        return None, (current, total + sample.value, count + 1, means)
    span, needed, averaging = window
    means = tuple((h, m) for h, m in (*means, (current, total / count)) if h > current - span * _HOUR)
    memory = (hour, sample.value, 1, means)
    if len(means) < needed:
        return None, memory  # too few hourly means for a valid average (GB 3095-2012 Table 4)
    mean = max(0.0, reported(pollutant, sum(m for _, m in means) / len(means)))
    index = aqi({pollutant: mean}, averaging=averaging)
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
    """Which rules watch which sensor, worked out once per sensor — and once per (kind, tags) for the sensors
    no rule names by id (issue 21: with 10,000s of sensors, matching every rule against every sensor in every
    batch cost more than judging the readings)."""

    def __init__(self, rules: Sequence[RuleSpec], sensors: Mapping[str, SensorInfo]) -> None:
        self.reading_rules = [rule for rule in rules if not isinstance(rule.condition, StaleCondition)]
        self.stale_rules = [rule for rule in rules if isinstance(rule.condition, StaleCondition)]
        self.sensors = sensors
        self._cache: dict[str, list[RuleSpec]] = {}
        self._named = frozenset(sensor_id for rule in rules for sensor_id in rule.applies_to.ids)
        self._groups: dict[tuple[str, frozenset[str]], list[RuleSpec]] = {}
        self._stale_groups: dict[tuple[str, frozenset[str]], frozenset[str]] = {}

    def rules_for(self, sensor_id: str) -> list[RuleSpec]:
        found = self._cache.get(sensor_id)
        if found is None:
            info = self.sensors.get(sensor_id)
            if info is None:
                found = []
            elif sensor_id in self._named:
                found = [rule for rule in self.reading_rules if _watches(rule, info)]
            else:  # no rule names it: its kind and tags alone decide
                found = self._groups.get((info.kind, info.tags))
                if found is None:
                    found = [rule for rule in self.reading_rules if _watches(rule, info)]
                    self._groups[info.kind, info.tags] = found
            self._cache[sensor_id] = found
        return found

    def watches_stale(self, rule: RuleSpec, info: SensorInfo) -> bool:
        """Whether the ``stale`` rule ``rule`` watches the sensor ``info``."""
        if info.id in self._named:
            return _watches(rule, info)
        ids = self._stale_groups.get((info.kind, info.tags))
        if ids is None:
            ids = frozenset(stale.id for stale in self.stale_rules if _watches(stale, info))
            self._stale_groups[info.kind, info.tags] = ids
        return rule.id in ids


def _watches(rule: RuleSpec, info: SensorInfo) -> bool:
    return rule.applies_to.matches(info.id, info.kind, info.tags)


def _check_rules(rules: Sequence[RuleSpec]) -> None:
    for rule in rules:
        if not supported(rule):
            raise UnsupportedCondition(rule.id, rule.condition.type)


def _judge_samples(
    state: State, matcher: _Matcher, samples: Iterable[Sample], out: list[Transition] | None,
    late: set[str] | None = None,
) -> None:
    """Feed samples in ts order; with ``out`` None only memories and late-reading marks move (priming). The
    sensors with a late reading are added to ``late``."""
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
                if late is not None:
                    late.add(sample.sensor_id)
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
            if seen is None or not matcher.watches_stale(rule, info):
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
    for key, ks in [(key, ks) for key, ks in state.items() if ks.alert is not None]:  # not a copy of it all
        alert = ks.alert
        rule = by_id.get(key[0])
        info = sensors.get(key[1])
        if rule is not None and info is not None and _watches(rule, info):
            continue
        kind = "dropped" if alert.state == PENDING else "resolved"
        out.append(Transition(kind, key[0], key[1], alert.level, alert.value, now, alert.started_at))
        del state[key]


# --- the fast path of evaluate ---------------------------------------------------------------------
# An episode of (rule, sensor) depends only on that sensor's readings. So ``evaluate`` groups readings per
# sensor and sorts each group by ts once; drops the readings whose ts equals the one before (late: no newer
# than the last one judged); per rule skips, with one bisection, the readings no newer than the key's
# late-reading mark; turns the rest into verdicts with a plan whose constants (limits in level order,
# comparison operators, clear value, time zone) are worked out once per call; and runs the episode's state
# machine in local variables. Transitions are put back into the reference order — reading order (ts,
# sensor id), then rule order — at the end; new keys enter the state in the order the reference would
# insert them.

_TS = operator.attrgetter("ts")
_VALUE = operator.attrgetter("value")
_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

#: Verdicts of one (rule, sensor) over its readings: the ts of the readings that got one (a rate cannot
#: judge its first reading), their levels and measured values, and the condition's new memory.
Verdicts = tuple[list[datetime], list[str | None], list[Any], tuple]


def _leveller(levels: Levels, op: str) -> Callable[[Any], str | None]:
    """``levels.breached(·, op)`` by one bisection of the limits in level order (exact, NaN included)."""
    limits = levels.limits()[::-1]  # lowest level first
    names = (None, *(level for level, _ in limits))
    rising = op in RISING_OPS
    # Keys grow with the level: the limits for >, >=; their negations (exact) for <, <=.
    keys = [limit if rising else -limit for _, limit in limits]
    if any(lower >= higher for lower, higher in itertools.pairwise(keys)):
        return lambda value: levels.breached(value, op)  # not validated: judge as the reference does
    if op == ">":  # the number of limits below the value = the levels breached
        return lambda value: names[bisect_left(keys, value)]
    if op == "<":
        return lambda value: names[bisect_left(keys, -value)]
    if op == ">=":
        return lambda value: names[bisect_right(keys, value)] if value == value else None
    return lambda value: names[bisect_right(keys, -value)] if value == value else None


class _Plan:
    """One reading rule, ready to be judged many times; ``rank`` is its place in rule order."""

    def __init__(self, rule: RuleSpec, rank: int) -> None:
        self.rule = rule
        self.id = rule.id
        self.rank = rank
        self.for_duration = rule.for_duration
        #: Without ``for`` (0s) a first breaching reading fires at once.
        self.fires_at_once = timedelta(0) >= rule.for_duration
        clear = rule.clear
        self.clear_compare = (
            None if clear is None else _COMPARE.get(clear.op, lambda v, limit: breaches(v, clear.op, limit))
        )
        self.clear_value = None if clear is None else clear.value
        self.hours: ActiveHours | None = rule.active_hours
        condition = rule.condition
        judge = getattr(self, f"_judge_{condition.type}", self._judge_generic)
        self.judge: Callable[[list[datetime], list[Any], tuple, SensorInfo], Verdicts | None] = judge
        if isinstance(condition, ThresholdCondition | RateCondition | RepeatCondition):
            self.level_of = _leveller(condition.levels, condition.op)

    def _judge_generic(self, tss: list[datetime], values: list[Any], memory: tuple, info: SensorInfo) -> Verdicts:
        """The condition's judge of ``JUDGES``, one reading at a time."""
        judge, condition = JUDGES[self.rule.condition.type], self.rule.condition
        judged_ts, levels, measured = [], [], []
        for ts, value in zip(tss, values, strict=True):
            verdict, memory = judge(condition, memory, Sample(info.id, ts, value), info.kind)
            if verdict is not None:
                judged_ts.append(ts)
                levels.append(verdict[0])
                measured.append(verdict[1])
        return judged_ts, levels, measured, memory

    def _judge_threshold(self, tss: list[datetime], values: list[Any], memory: tuple, info: SensorInfo) -> Verdicts:
        level_of = self.level_of
        return tss, [level_of(value) for value in values], values, memory

    def _judge_range(self, tss: list[datetime], values: list[Any], memory: tuple, info: SensorInfo) -> Verdicts:
        low, high, level = self.rule.condition.low, self.rule.condition.high, self.rule.condition.level
        return tss, [level if value < low or value > high else None for value in values], values, memory

    def _judge_rate(self, tss: list[datetime], values: list[Any], memory: tuple, info: SensorInfo) -> Verdicts:
        level_of, per = self.level_of, self.rule.condition.per.total_seconds()
        first = 0
        if not memory:  # the first reading only becomes the memory
            first = 1
            memory = (tss[0], values[0])
        previous_ts, previous_value = memory
        rates = []
        for ts, value in zip(tss[first:], values[first:], strict=True):
            seconds = (ts - previous_ts).total_seconds()
            rates.append((value - previous_value) / seconds * per)
            previous_ts, previous_value = ts, value
        return tss[first:], [level_of(rate) for rate in rates], rates, (tss[-1], values[-1])

    def _judge_repeat(self, tss: list[datetime], values: list[Any], memory: tuple, info: SensorInfo) -> Verdicts:
        level_of, count, rank = self.level_of, self.rule.condition.count, LEVEL_RANK.__getitem__
        levels: list[str | None] = []
        for value in values:  # the reference's own steps, with the level found by bisection
            recent = (*memory, level_of(value))[-count:]
            memory = recent[1:] if len(recent) == count else recent
            levels.append(None if len(recent) < count or None in recent else min(recent, key=rank))
        return tss, levels, values, memory


def _plans(rules: Sequence[RuleSpec]) -> dict[str, _Plan] | None:
    """The plans of the reading rules by id; None when two share an id (they would share a state key)."""
    plans = {rule.id: _Plan(rule, rank) for rank, rule in enumerate(rules)}
    return plans if len(plans) == len(rules) else None


def _inside_hours(hours: ActiveHours, tss: list[datetime]) -> list[bool]:
    """``hours.contains(ts)`` for each ts: the local (hour, minute) compared as numbers, not as text."""
    zone = ZoneInfo(hours.tz)
    start = int(hours.start[:2]) * 60 + int(hours.start[3:])
    end = int(hours.end[:2]) * 60 + int(hours.end[3:])
    minutes = [(local.hour * 60 + local.minute) for local in (ts.astimezone(zone) for ts in tss)]
    if start < end:
        return [start <= minute < end for minute in minutes]
    return [minute >= start or minute < end for minute in minutes]


def _run_episode(
    alert: OpenAlert | None,
    plan: _Plan,
    sensor_id: str,
    tss: list[datetime],
    levels: list[str | None],
    values: list[Any],
    out: list[Transition],
) -> OpenAlert | None:
    """``_advance`` over a run of verdicts of one (rule, sensor), its alert kept in local variables."""
    rule_id, emit, new = plan.id, out.append, Transition
    for_duration, fires_at_once = plan.for_duration, plan.fires_at_once
    clear_compare, clear_value = plan.clear_compare, plan.clear_value
    emitted = len(out)
    # phase: 0 no alert, 1 pending, 2 firing (any state other than pending is judged as firing)
    if alert is None:
        phase, state, level_now, value_now, started_at, fired_at = 0, None, None, None, None, None
    else:
        phase = 1 if alert.state == PENDING else 2
        state, level_now, value_now = alert.state, alert.level, alert.value
        started_at, fired_at = alert.started_at, alert.fired_at
    for ts, level, value in zip(tss, levels, values, strict=True):
        if phase == 0:
            if level is None:
                continue  # idle and not breaching: nothing to say
            started_at, level_now, value_now = ts, level, value
            if fires_at_once:
                emit(new("fired", rule_id, sensor_id, level, value, ts, ts))
                phase, state, fired_at = 2, FIRING, ts
            else:
                emit(new("pending", rule_id, sensor_id, level, value, ts, ts))
                phase, state, fired_at = 1, PENDING, None
        elif phase == 1:
            if level is None:
                emit(new("dropped", rule_id, sensor_id, level_now, value, ts, started_at))
                phase = 0
            elif ts - started_at >= for_duration:
                emit(new("fired", rule_id, sensor_id, level, value, ts, started_at))
                phase, state, fired_at, level_now, value_now = 2, FIRING, ts, level, value
            else:
                emit(new("updated", rule_id, sensor_id, level, value, ts, started_at))
                level_now, value_now = level, value
        else:
            if level is None if clear_compare is None or value is None else clear_compare(value, clear_value):
                emit(new("resolved", rule_id, sensor_id, level_now, value, ts, started_at))
                phase = 0
            else:
                # Inside the hysteresis band no level is breached: the alert keeps its last level.
                level = level or level_now
                emit(
                    new(
                        "level_changed" if level != level_now else "updated",
                        rule_id,
                        sensor_id,
                        level,
                        value,
                        ts,
                        started_at,
                    )
                )
                level_now, value_now = level, value
    if len(out) == emitted:
        return alert
    if phase == 0:
        return None
    return OpenAlert(state, level_now, value_now, started_at, fired_at)


def _group_by_sensor(readings: Iterable[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = {}
    for sample in readings:
        group = groups.get(sample.sensor_id)
        if group is None:
            groups[sample.sensor_id] = [sample]
        else:
            group.append(sample)
    return groups


def _judge_groups(
    state: State,
    matcher: _Matcher,
    plans: Mapping[str, _Plan],
    groups: Mapping[str, list[Sample]],
    out: list[Transition],
    late: set[str] | None = None,
) -> None:
    """What ``_judge_samples`` does to ``state``, ``out`` and ``late``, one sensor and one rule at a time."""
    found: list[Transition] = []
    new_keys: list[tuple[tuple[datetime, str, int], Key, KeyState]] = []
    # Sensors in id order and rules in rule order: a stable sort by ts then gives the reference order.
    for sensor_id in sorted(groups):
        group = groups[sensor_id]
        info = matcher.sensors.get(sensor_id)
        if info is None:
            continue  # not a known sensor: ingestion refuses those
        rules = matcher.rules_for(sensor_id)
        if not rules:
            continue
        group = sorted(group, key=_TS)  # stable: readings with equal ts keep their order
        tss, values = list(map(_TS, group)), list(map(_VALUE, group))
        if any(map(operator.eq, tss, itertools.islice(tss, 1, None))):
            # A reading with the ts of the one before is late once that one is judged: keep the first.
            if late is not None:
                late.add(sensor_id)
            kept = [0, *(i for i in range(1, len(tss)) if tss[i] != tss[i - 1])]
            tss, values = [tss[i] for i in kept], [values[i] for i in kept]
        for rule in rules:
            plan = plans[rule.id]
            key = (rule.id, sensor_id)
            ks = state.get(key)
            first = 0
            if ks is not None and ks.last_ts is not None:
                first = bisect_right(tss, ks.last_ts)  # readings no newer than the last one judged are late
                if first and late is not None:
                    late.add(sensor_id)
                if first == len(tss):
                    continue
            judged_ts, judged_values = (tss, values) if first == 0 else (tss[first:], values[first:])
            alert, memory = (None, ()) if ks is None else (ks.alert, ks.memory)
            verdicts = plan.judge(judged_ts, judged_values, memory, info)
            if verdicts is not None:
                verdict_ts, levels, measured, memory = verdicts
                if plan.hours is not None and verdict_ts:
                    within = _inside_hours(plan.hours, verdict_ts)
                    if not all(within):  # outside the rule's hours its alert ends, whatever the value
                        levels = [level if ok else None for level, ok in zip(levels, within, strict=True)]
                        measured = [value if ok else None for value, ok in zip(measured, within, strict=True)]
                if verdict_ts:
                    alert = _run_episode(alert, plan, sensor_id, verdict_ts, levels, measured, found)
            keyed = KeyState(alert, judged_ts[-1], memory)
            if key in state:
                state[key] = keyed
            else:
                new_keys.append(((judged_ts[0], sensor_id, plan.rank), key, keyed))
    # The reference inserts a key when it first judges one of its readings.
    new_keys.sort(key=operator.itemgetter(0))
    state.update((key, keyed) for _, key, keyed in new_keys)
    found.sort(key=_TS)
    out.extend(found)


def _received(sample: Sample) -> datetime:
    return sample.ts if sample.received_at is None else sample.received_at


def _newest_receipts(groups: Mapping[str, list[Sample]]) -> dict[str, datetime]:
    """When each sensor's newest reading among ``groups`` was received (its ts when not known)."""
    return {sensor_id: max(map(_received, group)) for sensor_id, group in groups.items()}


def _last_seen(sensors: Mapping[str, SensorInfo], newest: Mapping[str, datetime]) -> dict[str, datetime]:
    """When each sensor's newest reading was received, the receipts ``newest`` included (DESIGN §5: not their
    ts)."""
    last_seen = {}
    for sensor_id, info in sensors.items():
        seen = info.last_received or info.last_ts
        if seen is not None:
            last_seen[sensor_id] = seen
    for sensor_id, received in newest.items():
        seen = last_seen.get(sensor_id)
        if seen is None or received > seen:
            last_seen[sensor_id] = received
    return last_seen


class Evaluator:
    """``evaluate`` in two parts, changing a state in place, for a caller that keeps the state between calls
    (the engine's worker, issue 21): ``judge`` the readings of a batch, then, once after the last batch,
    ``clock`` — the ``stale`` rules against the wall clock and the alerts of rules or sensors gone. The rules
    matched to each sensor are worked out once for the object's life, so the sensors' kinds and tags must not
    change (their last receipts may: ``sensors`` is read at each ``clock``)."""

    def __init__(self, rules: Sequence[RuleSpec], sensors: Mapping[str, SensorInfo]) -> None:
        _check_rules(rules)
        self.rules = rules
        self.sensors = sensors
        self.matcher = _Matcher(rules, sensors)
        #: None when two reading rules share an id: then the reference evaluator judges.
        self.plans = _plans(self.matcher.reading_rules)

    def judge(self, state: State, readings: Iterable[Sample], out: list[Transition],
              late: set[str] | None = None) -> dict[str, list[Sample]]:
        """Judge ``readings`` by the reading rules (transitions appended to ``out``, the sensors with a late
        reading — ignored — added to ``late``); returns the readings per sensor."""
        readings = list(readings)
        groups = _group_by_sensor(readings)
        if self.plans is None:
            _judge_samples(state, self.matcher, readings, out, late)
        else:
            _judge_groups(state, self.matcher, self.plans, groups, out, late)
        return groups

    def rules_for(self, sensor_id: str) -> list[RuleSpec]:
        """The reading rules that watch the sensor (none for an unknown one)."""
        return self.matcher.rules_for(sensor_id)

    def clock(self, state: State, now: datetime, out: list[Transition],
              newest: Mapping[str, datetime] | None = None) -> None:
        """Judge the ``stale`` rules at ``now`` — ``newest``: receipts not in ``sensors`` yet — and close the
        open alerts of rules that are gone or no longer watch their sensor."""
        if self.matcher.stale_rules:
            _judge_stale(state, self.matcher, _last_seen(self.sensors, newest or {}), now, out)
        _retire_orphans(state, self.rules, self.sensors, now, out)


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
    evaluator = Evaluator(rules, sensors)
    if evaluator.plans is None:
        return evaluate_reference(rules, readings, state, now, sensors=sensors)
    new_state: State = dict(state)
    out: list[Transition] = []
    groups = evaluator.judge(new_state, readings, out)
    evaluator.clock(new_state, now, out, _newest_receipts(groups))
    return new_state, out


def evaluate_reference(
    rules: Sequence[RuleSpec],
    readings: Iterable[Sample],
    state: Mapping[Key, KeyState],
    now: datetime,
    *,
    sensors: Mapping[str, SensorInfo],
) -> tuple[State, list[Transition]]:
    """``evaluate`` the straightforward way: every reading in ts order against every rule watching its
    sensor, one ``_advance`` at a time. The specification the fast path is tested against."""
    _check_rules(rules)
    new_state: State = dict(state)
    out: list[Transition] = []
    matcher = _Matcher(rules, sensors)
    readings = list(readings)
    _judge_samples(new_state, matcher, readings, out)
    if matcher.stale_rules:
        _judge_stale(new_state, matcher, _last_seen(sensors, _newest_receipts(_group_by_sensor(readings))),
                     now, out)
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
    matcher = _Matcher(rules, sensors)
    plans = _plans(matcher.reading_rules)
    if plans is None:
        _judge_samples(new_state, matcher, history, None)
        return new_state
    # The fast path (issue 21: the engine primes every sensor of a run): per sensor, its readings in ts order
    # through each rule's plan, only for the memory; new keys enter in the order ``_judge_samples`` would
    # insert them (first reading's ts, sensor id, rule order).
    new_keys: list[tuple[tuple[datetime, str, int], Key, KeyState]] = []
    for sensor_id, group in _group_by_sensor(history).items():
        info = sensors.get(sensor_id)
        rules_for = [] if info is None else matcher.rules_for(sensor_id)
        if not rules_for:
            continue
        group.sort(key=_TS)  # stable: readings with equal ts keep their order, as in the reference
        tss, values = list(map(_TS, group)), list(map(_VALUE, group))
        for rule in rules_for:
            plan = plans[rule.id]
            key = (rule.id, sensor_id)
            ks = new_state.get(key)
            verdicts = plan.judge(tss, values, () if ks is None else ks.memory, info)
            memory = verdicts[3] if verdicts is not None else (() if ks is None else ks.memory)
            if ks is None:
                new_keys.append(((tss[0], sensor_id, plan.rank), key, KeyState(None, max(tss), memory)))
            else:
                last_ts = max(tss) if ks.last_ts is None else max(ks.last_ts, *tss)
                new_state[key] = KeyState(ks.alert, last_ts, memory)
    new_keys.sort(key=operator.itemgetter(0))
    new_state.update((key, keyed) for _, key, keyed in new_keys)
    return new_state


def open_alerts(state: Mapping[Key, KeyState]) -> dict[Key, OpenAlert]:
    """The open (pending or firing) alerts of a state."""
    return {key: ks.alert for key, ks in state.items() if ks.alert is not None}
