"""The settings every figure uses: the administrator's overrides (``settings`` table, /admin/settings) over
the CITYOPS_* environment variables (the first-start defaults). ``effective_settings`` is the one read — the
briefing's grades and the big screen's tile targets both come from it — and ``check_setting`` the one
validation of a new value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.admin_models import SettingOverride
from settings import Settings, check_grade_thresholds, check_grade_weights, check_kpi_targets, get_settings

#: The settings an administrator may override, in the order /admin/settings shows them.
SETTING_KEYS = ("kpi_targets", "grade_weights", "grade_thresholds")


@dataclass(frozen=True)
class EffectiveSettings:
    """The values in force: KPI targets (key → (amber below, red below)), grade weights (KPI key → weight)
    and grade thresholds (A from, B from); ``overridden`` names the keys set in /admin."""

    kpi_targets: dict[str, tuple[float, float]]
    grade_weights: dict[str, float]
    grade_thresholds: tuple[float, float]
    overridden: frozenset[str] = frozenset()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    return number


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{where}: two numbers are needed")
    return _number(value[0], where), _number(value[1], where)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: a non-empty mapping of KPI keys is needed")
    return {str(key): item for key, item in value.items()}


def check_setting(key: str, value: Any) -> Any:
    """``value`` normalised for ``key`` (numbers as floats, pairs as tuples), or ValueError saying what is wrong
    — the same rules the environment variables are checked by (``settings.check_*``)."""
    if key == "kpi_targets":
        return check_kpi_targets({k: _pair(v, k) for k, v in _mapping(value, key).items()})
    if key == "grade_weights":
        return check_grade_weights({k: _number(v, k) for k, v in _mapping(value, key).items()})
    if key == "grade_thresholds":
        return check_grade_thresholds(_pair(value, key))
    raise ValueError(f"unknown setting {key!r} (one of {', '.join(SETTING_KEYS)})")


def effective_settings(session: Session, defaults: Settings | None = None) -> EffectiveSettings:
    """The settings in force: each override stored in the database over ``defaults`` (the environment). KPI
    targets merge key by key (a target not overridden keeps its default); a stored value that no longer
    passes the checks is ignored (the default holds)."""
    defaults = defaults or get_settings()
    values: dict[str, Any] = {"kpi_targets": dict(defaults.kpi_targets), "grade_weights": dict(defaults.grade_weights),
                              "grade_thresholds": tuple(defaults.grade_thresholds)}
    overridden = set()
    for row in session.scalars(select(SettingOverride).where(SettingOverride.key.in_(SETTING_KEYS))):
        try:
            value = check_setting(row.key, row.value)
        except ValueError:
            continue
        values[row.key] = {**values["kpi_targets"], **value} if row.key == "kpi_targets" else value
        overridden.add(row.key)
    return EffectiveSettings(**values, overridden=frozenset(overridden))
