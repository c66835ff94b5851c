"""The alert-rule document of DESIGN §5 as pydantic models: validation with errors that name the field.

A rule arrives as YAML (``alerts/rules/*.yaml``) or JSON (the API); ``validate_rule`` turns it into a
frozen ``RuleSpec`` that the evaluator reads, and ``rule_document`` turns a spec back into the
canonical document stored in ``rules.body``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.durations import format_duration, parse_duration
from domain.states import ALERT_LEVEL_RANK, ALERT_LEVELS

#: Warning levels from the lowest to the highest (Chinese four-colour scale: IV, III, II, I).
LEVELS: tuple[str, ...] = ALERT_LEVELS
LEVEL_RANK: Mapping[str, int] = ALERT_LEVEL_RANK

Level = Literal["blue", "yellow", "orange", "red"]
Op = Literal[">", ">=", "<", "<="]
RISING_OPS: frozenset[str] = frozenset({">", ">="})

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def breaches(value: float, op: str, limit: float) -> bool:
    """Whether ``value op limit`` holds."""
    if op == ">":
        return value > limit
    if op == ">=":
        return value >= limit
    if op == "<":
        return value < limit
    return value <= limit


def _disjoint(op: str, limit: float, clear_op: str, clear_value: float) -> bool:
    """Whether no value can both breach ``op limit`` and satisfy the opposite ``clear_op clear_value``."""
    if clear_value == limit:
        return not (op.endswith("=") and clear_op.endswith("="))
    return clear_value < limit if op in RISING_OPS else clear_value > limit


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(_Strict):
    """A name in both catalog languages."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class AppliesTo(_Strict):
    """Which sensors a rule watches; every criterion given must match."""

    kinds: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> AppliesTo:
        if not (self.kinds or self.ids or self.tags):
            raise ValueError("give at least one of kinds, ids or tags")
        return self

    def matches(self, sensor_id: str, kind: str, tags: frozenset[str] | set[str]) -> bool:
        """Whether a sensor with this id, kind and tags is watched by the rule (all tags must be present)."""
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.ids or sensor_id in self.ids)
            and all(tag in tags for tag in self.tags)
        )


class Levels(_Strict):
    """One limit per warning level; at least one."""

    red: Finite | None = None
    orange: Finite | None = None
    yellow: Finite | None = None
    blue: Finite | None = None

    @model_validator(mode="after")
    def _some_level(self) -> Levels:
        if not self.limits():
            raise ValueError("give a limit for at least one of red, orange, yellow, blue")
        return self

    def limits(self) -> tuple[tuple[str, float], ...]:
        """(level, limit) pairs from the highest level to the lowest."""
        return tuple(
            (level, limit) for level in reversed(LEVELS) if (limit := getattr(self, level)) is not None
        )

    def breached(self, value: float, op: str) -> str | None:
        """The highest level whose limit ``value`` breaches, or None."""
        for level, limit in self.limits():
            if breaches(value, op, limit):
                return level
        return None


class _LevelledCondition(_Strict):
    """A comparison of a measured value against one limit per level."""

    op: Op
    levels: Levels

    @field_validator("levels")
    @classmethod
    def _levels_ordered(cls, levels: Levels, info: ValidationInfo) -> Levels:
        op = info.data.get("op")
        if op is None:
            return levels
        limits = [limit for _, limit in levels.limits()]  # highest level first
        rising = op in RISING_OPS
        for higher, lower in itertools.pairwise(limits):
            if (higher <= lower) if rising else (higher >= lower):
                side = "above" if rising else "below"
                raise ValueError(f"with op {op!r} each higher level needs a limit {side} the lower one")
        return levels

    def mildest_limit(self) -> float:
        """The limit of the lowest level given: the edge of the breaching region."""
        return self.levels.limits()[-1][1]


class ThresholdCondition(_LevelledCondition):
    """The reading value compared with one limit per level; the highest level breached wins."""

    type: Literal["threshold"]


class RangeCondition(_Strict):
    """A reading outside the band [low, high] raises ``level``."""

    type: Literal["range"]
    low: Finite
    high: Finite
    level: Level

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and high <= low:
            raise ValueError("high must be greater than low")
        return high


class RateCondition(_LevelledCondition):
    """The change between consecutive readings, scaled to a change per ``per``."""

    type: Literal["rate"]
    per: PositiveDuration = timedelta(minutes=1)


class RepeatCondition(_LevelledCondition):
    """``count`` consecutive readings breaching; the level is the highest all of them breach."""

    type: Literal["repeat"]
    count: int = Field(ge=1, le=1000)


class StaleCondition(_Strict):
    """No reading from a sensor for ``after`` (wall-clock time): the sensor is offline."""

    type: Literal["stale"]
    after: PositiveDuration
    level: Level = "blue"


class AqiLevels(_Strict):
    """The lowest AQI category (1 优 … 6 严重污染, HJ 633-2012) that raises each level."""

    red: int | None = Field(default=None, ge=1, le=6)
    orange: int | None = Field(default=None, ge=1, le=6)
    yellow: int | None = Field(default=None, ge=1, le=6)
    blue: int | None = Field(default=None, ge=1, le=6)

    @model_validator(mode="after")
    def _ordered(self) -> AqiLevels:
        given = [category for level in reversed(LEVELS) if (category := getattr(self, level)) is not None]
        if not given:
            raise ValueError("give a category for at least one of red, orange, yellow, blue")
        if any(higher <= lower for higher, lower in itertools.pairwise(given)):
            raise ValueError("each higher level needs a higher AQI category than the lower one")
        return self

    def limits(self) -> tuple[tuple[str, int], ...]:
        """(level, category) pairs from the highest level to the lowest."""
        return tuple(
            (level, category) for level in reversed(LEVELS) if (category := getattr(self, level)) is not None
        )


class AqiCondition(_Strict):
    """An AQI category (HJ 633-2012) at or above the one given per level, of the pollutant's mean over
    ``averaging``: ``1h`` the mean of each clock hour (by the hourly breakpoints), ``24h`` the mean of the
    last 24 hourly means (at least 20; the daily breakpoints) with O3 by its 8-hour mean, ``8h`` O3's mean of
    the last 8 hourly means (at least 6) — O3 only, the one pollutant with 8-hour limits. A verdict is given
    as each clock hour completes (the first reading of a later hour), as hourly reporting does."""

    type: Literal["aqi"]
    averaging: Literal["1h", "8h", "24h"] = "1h"
    levels: AqiLevels


Condition = Annotated[
    ThresholdCondition | RangeCondition | RateCondition | RepeatCondition | StaleCondition | AqiCondition,
    Field(discriminator="type"),
]
CONDITION_TYPES: tuple[str, ...] = ("threshold", "range", "rate", "repeat", "stale", "aqi")


class Clear(_Strict):
    """Hysteresis: a firing alert resolves only once ``measured value op value`` holds."""

    op: Op
    value: Finite


def _auto_create_levels(value: object) -> object:
    """``true``/``false``, or a non-empty list of levels (kept highest first, without repeats)."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, list | tuple) or not value or any(level not in LEVEL_RANK for level in value):
        raise ValueError("give true, false or a non-empty list of levels among red, orange, yellow, blue")
    return tuple(sorted(set(value), key=LEVEL_RANK.__getitem__, reverse=True))


class IncidentSpec(_Strict):
    """What a firing alert does in the dispatch loop: auto-create an incident or wait for triage.

    ``auto_create`` is ``true`` (every level), ``false`` (operator triage) or the list of levels that
    file an incident by themselves (e.g. ``[red, orange]``); the alerts of other levels wait for triage.
    """

    category: str = Field(min_length=1, max_length=16)
    auto_create: Annotated[bool | tuple[Level, ...], BeforeValidator(_auto_create_levels)] = False

    def auto_creates(self, level: str) -> bool:
        """Whether an alert firing at ``level`` files its incident without operator triage."""
        return level in self.auto_create if isinstance(self.auto_create, tuple) else self.auto_create


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class ActiveHours(_Strict):
    """The local hours a rule judges readings, [start, end) (may wrap midnight: 22:00–06:00 = night).

    Outside them the rule's alert ends: GB 3096 noise limits differ by day and night, for example.
    """

    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)
    tz: str = "Asia/Shanghai"

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: str, info: ValidationInfo) -> str:
        if end == info.data.get("start"):
            raise ValueError("end must differ from start")
        return end

    def contains(self, ts: datetime) -> bool:
        """Whether ``ts`` (aware) falls within the hours, in local time of ``tz``."""
        local = ts.astimezone(ZoneInfo(self.tz)).strftime("%H:%M")
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class RuleSpec(_Strict):
    """A validated alert rule (DESIGN §5)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)
    name: LocalizedText
    applies_to: AppliesTo
    condition: Condition
    for_: Duration | None = Field(default=None, alias="for")
    clear: Clear | None = None
    active_hours: ActiveHours | None = None
    incident: IncidentSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("for_")
    @classmethod
    def _non_negative_for(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("for must not be negative")
        return value

    @field_validator("condition")
    @classmethod
    def _eight_hours_for_ozone_only(cls, condition: Any, info: ValidationInfo) -> Any:
        applies_to = info.data.get("applies_to")
        if (isinstance(condition, AqiCondition) and condition.averaging == "8h" and applies_to is not None
                and set(applies_to.kinds) - {"air_o3"}):
            raise ValueError("averaging 8h applies to O3 only: give applies_to kinds [air_o3]")
        return condition

    @field_validator("clear")
    @classmethod
    def _clear_opposes_condition(cls, clear: Clear | None, info: ValidationInfo) -> Clear | None:
        condition = info.data.get("condition")
        if clear is None or condition is None:
            return clear
        if isinstance(condition, RangeCondition | StaleCondition):
            raise ValueError(f"clear does not apply to {condition.type} conditions")
        if isinstance(condition, AqiCondition):
            op, edge = ">=", float(condition.levels.limits()[-1][1])
        else:
            op, edge = condition.op, condition.mildest_limit()
        if (clear.op in RISING_OPS) == (op in RISING_OPS):
            raise ValueError("clear must compare in the opposite direction to the condition")
        if not _disjoint(op, edge, clear.op, clear.value):
            raise ValueError(f"clear value must lie outside the breaching region (its edge is {edge})")
        return clear

    @property
    def for_duration(self) -> timedelta:
        """How long a breach must last before the alert fires (0 without ``for``)."""
        return self.for_ or timedelta(0)


class RuleValidationError(ValueError):
    """A rule document that does not validate; ``errors`` lists (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" if field else message for field, message in errors))

    @property
    def field(self) -> str:
        """The first offending field (dotted path, e.g. ``condition.levels.red``)."""
        return self.errors[0][0]


def _field_path(loc: tuple[int | str, ...], error_type: str) -> str:
    parts = list(loc)
    # A discriminated union puts the tag into the location: condition.threshold.levels → condition.levels
    if len(parts) >= 2 and parts[0] == "condition" and parts[1] in CONDITION_TYPES:
        del parts[1]
    if error_type.startswith("union_tag") and parts == ["condition"]:
        parts.append("type")
    return ".".join(str(part) for part in parts)


def _message(error: Any) -> str:
    message = error["msg"]
    return message.removeprefix("Value error, ")


def validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """The (field, message) pairs of a pydantic validation error of a rule."""
    return [(_field_path(error["loc"], error["type"]), _message(error)) for error in exc.errors()]


def format_rule_error(exc: ValidationError | RuleValidationError) -> str:
    """A readable ``field: message; field: message`` string for a rule that does not validate."""
    if isinstance(exc, RuleValidationError):
        return str(exc)
    return str(RuleValidationError(validation_errors(exc)))


def validate_rule(doc: object) -> RuleSpec:
    """Validate a rule document (parsed YAML or JSON); raises ``RuleValidationError`` naming the field."""
    if not isinstance(doc, dict):
        raise RuleValidationError([("", "a rule must be a mapping of fields")])
    try:
        return RuleSpec.model_validate(doc)
    except ValidationError as exc:
        raise RuleValidationError(validation_errors(exc)) from exc


def rule_document(spec: RuleSpec) -> dict[str, Any]:
    """The canonical JSON-ready document of a rule (``for`` spelled as in the contract, durations as text)."""
    doc = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    condition = doc["condition"]
    doc["condition"] = {"type": condition.pop("type"), **condition}
    doc["applies_to"] = {key: value for key, value in doc["applies_to"].items() if value}
    return doc
