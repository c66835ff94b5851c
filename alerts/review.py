"""Warning review and warning statistics (监测复核, issue 17 §5).

An operator (or admin) reviews each fired alert: ``confirmed``, ``false_alarm`` (误报, with a reason) or
``exercise`` — ``review_alert`` is the one write. ``warning_stats`` is the one query behind every warning
figure (the API, the briefing, the false-alarm flag of /admin's rules): per period and per family,
district, level, rule or sensor, the alerts raised, reviewed, confirmed and false, the false-alarm rate and
the mean minutes to acknowledge and to review. Drills (``alerts.exercise``) and alerts reviewed as an
exercise are left out of the real figures and counted apart as ``exercises``.

The period is the alerts' ``fired_at`` in [start, end); reviews and acknowledgements count whenever they
were made (figures of a past period grow as its alerts are reviewed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, extract, func, or_, select
from sqlalchemy.orm import Session

from data.areas import actor_grid_ids, grids_of_area
from data.audit import write_audit
from data.models import Alert, Area, AreaLevel, Grid, Rule, Sensor
from domain.permissions import Permission, allowed
from settings import get_settings

VERDICTS = ("confirmed", "false_alarm", "exercise")
FALSE_ALARM_REASONS = ("device_fault", "calibration", "environment", "test")
NOTE_MAX = 2000
#: What ``warning_stats`` can group by.
GROUPS = ("family", "district", "level", "rule", "sensor")
MINUTES_DIGITS = 1
RATE_DIGITS = 4


class ReviewError(ValueError):
    """A review that cannot be made: ``status`` (403/404/422), a machine-readable ``code``; the message
    starts with the field it is about."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ReviewCommand:
    """What the reviewer says about an alert (as typed: ``review_alert`` normalises it)."""

    verdict: str | None
    reason: str | None = None
    note: str | None = None


def _clean(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _normalised(command: ReviewCommand) -> tuple[str, str | None, str | None]:
    """(verdict, reason, note) lower-cased and trimmed; ReviewError 422 naming the field otherwise."""
    verdict = (_clean(command.verdict) or "").lower()
    reason = (_clean(command.reason) or "").lower() or None
    note = _clean(command.note)
    if verdict not in VERDICTS:
        raise ReviewError(422, "invalid_verdict", f"verdict: {command.verdict!r} is not one of {', '.join(VERDICTS)}")
    if verdict == "false_alarm" and reason is None:
        raise ReviewError(422, "reason_required",
                          f"reason: a false alarm needs one of {', '.join(FALSE_ALARM_REASONS)}")
    if reason is not None and verdict != "false_alarm":
        raise ReviewError(422, "invalid_reason", f"reason: only a false alarm has a reason, not {verdict}")
    if reason is not None and reason not in FALSE_ALARM_REASONS:
        raise ReviewError(422, "invalid_reason",
                          f"reason: {command.reason!r} is not one of {', '.join(FALSE_ALARM_REASONS)}")
    if note is not None and len(note) > NOTE_MAX:
        raise ReviewError(422, "note_too_long", f"note: {len(note)} characters; at most {NOTE_MAX} are allowed")
    return verdict, reason, note


def _visible(session: Session, alert: Alert, actor: Any) -> bool:
    """Whether the alert's sensor lies in the actor's area (always, for the city centre)."""
    grids = actor_grid_ids(session, actor)
    if grids is None:
        return True
    return session.scalar(select(Sensor.grid_id).where(Sensor.id == alert.sensor_id)) in grids


def review_alert(session: Session, actor: Any, alert_id: int, command: ReviewCommand, now: datetime) -> Alert:
    """Record ``actor``'s review of a fired alert and its audit row; a second review replaces the first (the
    audit keeps both). ReviewError: 403 for a role that may not review, 404 for no such alert (or one outside
    the actor's area), 422 for a bad verdict, reason or note, or an alert still pending (it never fired)."""
    if not allowed(getattr(actor, "role", None), Permission.ALERT_REVIEW):  # the one permission table
        raise ReviewError(403, "forbidden_action", f"role: {getattr(actor, 'role', None)!r} may not review alerts")
    verdict, reason, note = _normalised(command)
    alert = session.get(Alert, alert_id)
    if alert is None or not _visible(session, alert, actor):
        raise ReviewError(404, "alert_not_found", f"alert: no alert {alert_id}")
    if alert.fired_at is None:
        raise ReviewError(422, "alert_not_fired", f"state: alert {alert_id} is pending; it has not fired, so "
                                                  "there is nothing to review yet")
    previous = {"verdict": alert.review, "reason": alert.review_reason} if alert.review else None
    alert.review, alert.review_reason, alert.review_note = verdict, reason, note
    alert.reviewed_at, alert.reviewed_by_id = now, actor.id
    detail: dict[str, Any] = {"verdict": verdict, "reason": reason, "rule": alert.rule_id, "sensor": alert.sensor_id}
    if note:
        detail["note"] = note
    if previous:
        detail["previous"] = previous
    write_audit(session, actor.id, "alert.review", f"alert:{alert_id}", at=now, detail=detail)
    session.flush()
    return alert


# --- statistics ---------------------------------------------------------------------------------


def _minutes_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for (later − earlier) in minutes, never below 0 (acknowledged while still pending = at once)."""
    if session.get_bind().dialect.name == "sqlite":
        minutes = (func.julianday(later) - func.julianday(earlier)) * 1440.0
    else:
        minutes = extract("epoch", later - earlier) / 60.0
    return case((later < earlier, 0.0), else_=minutes)


def _measures(session: Session) -> list[Any]:
    """The aggregate columns: counts, and the sums behind the means (so groups can be folded together)."""
    # coalesce: a NULL review would make the whole condition NULL, and an unreviewed alert would count nowhere.
    drill = or_(Alert.exercise.is_(True), func.coalesce(Alert.review, "") == "exercise")
    real = ~drill
    reviewed = and_(real, Alert.review.in_(("confirmed", "false_alarm")))
    false_alarm = and_(real, Alert.review == "false_alarm")
    acked = and_(real, Alert.acked_at.is_not(None))
    ack_minutes = _minutes_between(session, Alert.acked_at, Alert.fired_at)
    review_minutes = _minutes_between(session, Alert.reviewed_at, Alert.fired_at)
    return [
        func.count().filter(real).label("raised"),
        func.count().filter(reviewed).label("reviewed"),
        func.count().filter(and_(real, Alert.review == "confirmed")).label("confirmed"),
        func.count().filter(false_alarm).label("false_alarm"),
        *(func.count().filter(and_(false_alarm, Alert.review_reason == reason)).label(f"reason_{reason}")
          for reason in FALSE_ALARM_REASONS),
        func.count().filter(acked).label("acknowledged"),
        func.sum(ack_minutes).filter(acked).label("ack_minutes"),
        func.sum(review_minutes).filter(reviewed).label("review_minutes"),
        func.count().filter(drill).label("exercises"),
    ]


_SUMMED = ("raised", "reviewed", "confirmed", "false_alarm", *(f"reason_{r}" for r in FALSE_ALARM_REASONS),
           "acknowledged", "ack_minutes", "review_minutes", "exercises")


def _key_column(group: str | None) -> Any:
    """The SQL key of a group (for ``district`` the sensor's grid, folded into districts afterwards)."""
    return {
        None: None,
        "family": Sensor.family,
        "level": func.coalesce(Alert.peak_level, Alert.level),
        "rule": Alert.rule_id,
        "sensor": Alert.sensor_id,
        "district": Sensor.grid_id,
    }[group]


def _districts_of_grids(session: Session) -> dict[int, int]:
    """grid id → the id of the district above it (grids outside any district are left out)."""
    parents = dict(session.execute(select(Area.id, Area.parent_id)).all())
    districts = set(session.scalars(select(Area.id).where(Area.level == AreaLevel.DISTRICT.value)))
    found: dict[int, int] = {}
    for grid_id, area_id in session.execute(select(Grid.id, Grid.community_id)).all():
        seen: set[int] = set()
        while area_id is not None and area_id not in districts and area_id not in seen:
            seen.add(area_id)
            area_id = parents.get(area_id)
        if area_id in districts:
            found[grid_id] = area_id
    return found


def _names(session: Session, group: str, keys: Iterable[Any]) -> dict[Any, dict[str, str]]:
    """The {zh, en} name of each group key that has one (rules, sensors, districts)."""
    wanted = [k for k in keys if k is not None]
    if group == "rule":
        bodies = session.execute(select(Rule.id, Rule.body).where(Rule.id.in_(wanted))).all()
        named = {rid: (body or {}).get("name") or {} for rid, body in bodies}
        return {rid: {"zh": name.get("zh", rid), "en": name.get("en", rid)} for rid, name in named.items()}
    if group == "sensor":
        return {sid: {"zh": name, "en": name}
                for sid, name in session.execute(select(Sensor.id, Sensor.name).where(Sensor.id.in_(wanted))).all()}
    if group == "district":
        return {code: {"zh": name, "en": name}
                for code, name in session.execute(select(Area.code, Area.name).where(Area.code.in_(wanted))).all()}
    return {}


def _figures(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The published figures from the summed columns."""
    count = {key: int(sums.get(key) or 0) for key in _SUMMED if not key.endswith("_minutes")}

    def mean(total_key: str, n: int) -> float | None:
        return None if not n else round(float(sums.get(total_key) or 0.0) / n, MINUTES_DIGITS)

    return {
        "raised": count["raised"],
        "reviewed": count["reviewed"],
        "confirmed": count["confirmed"],
        "false_alarm": count["false_alarm"],
        "false_alarm_rate": round(count["false_alarm"] / count["reviewed"], RATE_DIGITS) if count["reviewed"] else None,
        "false_alarm_reasons": {r: count[f"reason_{r}"] for r in FALSE_ALARM_REASONS},
        "unreviewed": count["raised"] - count["reviewed"],
        "acknowledged": count["acknowledged"],
        "mean_ack_minutes": mean("ack_minutes", count["acknowledged"]),
        "mean_review_minutes": mean("review_minutes", count["reviewed"]),
        "exercises": count["exercises"],
    }


def _fold(target: dict[Any, dict[str, float]], key: Any, row: Mapping[str, Any]) -> None:
    sums = target.setdefault(key, dict.fromkeys(_SUMMED, 0.0))
    for name in _SUMMED:
        sums[name] += float(row[name] or 0)


def warning_stats(session: Session, start: datetime, end: datetime, group: str | None = None, *,
                  area_code: str | None = None, grid_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """The warning figures of the alerts fired in [start, end) — of the area ``area_code`` (a district or street;
    None = the city), or of the sensors in the unit grids ``grid_ids`` (the big screen's scope) — in one grouped
    query: ``{"from", "to", "group", "total": figures, "groups": [{"key",
    "name", **figures}]}``; groups are listed when ``group`` is one of GROUPS (largest ``raised`` first; alerts
    without a group — a sensor outside every district — under key None, last).

    Figures: ``raised``, ``reviewed`` (confirmed + false), ``confirmed``, ``false_alarm``, ``false_alarm_rate``
    (false / reviewed, None when nothing was reviewed), ``false_alarm_reasons``, ``unreviewed``,
    ``acknowledged``, ``mean_ack_minutes`` (fired → acknowledged), ``mean_review_minutes`` (fired → reviewed),
    ``exercises`` (drills and alerts reviewed as an exercise: not in the other figures).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("warning statistics need timezone-aware times")
    if start > end:
        raise ValueError("the period starts after it ends")
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; groups are {', '.join(GROUPS)}")
    key = _key_column(group)
    columns = [key.label("group_key")] if key is not None else []
    query = (select(*columns, *_measures(session)).select_from(Alert).join(Sensor, Sensor.id == Alert.sensor_id)
             .where(Alert.fired_at >= start, Alert.fired_at < end))
    if area_code is not None:
        query = query.where(Sensor.grid_id.in_(grids_of_area(area_code)))
    if grid_ids is not None:
        query = query.where(Sensor.grid_id.in_(list(grid_ids)))
    if key is not None:
        query = query.group_by(key)
    rows = [row._mapping for row in session.execute(query)]
    total: dict[Any, dict[str, float]] = {}
    grouped: dict[Any, dict[str, float]] = {}
    districts = _districts_of_grids(session) if group == "district" else {}
    codes = dict(session.execute(select(Area.id, Area.code)).all()) if districts else {}
    for row in rows:
        _fold(total, None, row)
        if key is not None:
            group_key = row["group_key"]
            if group == "district":
                group_key = codes.get(districts.get(group_key))
            _fold(grouped, group_key, row)
    answer: dict[str, Any] = {"from": start, "to": end, "group": group, "total": _figures(total.get(None, {}))}
    if group is not None:
        names = _names(session, group, grouped)
        listed = [{"key": k, "name": names.get(k), **_figures(sums)} for k, sums in grouped.items()]
        listed.sort(key=lambda g: (g["key"] is None, -g["raised"], str(g["key"])))
        answer["groups"] = listed
    return answer


# --- rules with many false alarms ---------------------------------------------------------------


def false_alarm_flags(session: Session, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """The rules whose false-alarm rate over [start, end) is at or above ``CITYOPS_FALSE_ALARM_RATE`` with at
    least ``CITYOPS_FALSE_ALARM_MIN_REVIEWED`` reviewed alerts: rule id → its figures (``warning_stats``)."""
    settings = get_settings()
    flagged = {}
    for row in warning_stats(session, start, end, "rule")["groups"]:
        rate = row["false_alarm_rate"]
        if row["reviewed"] >= settings.false_alarm_min_reviewed and rate is not None \
                and rate >= settings.false_alarm_rate:
            flagged[row["key"]] = row
    return flagged



def reviews_of(session: Session, alert_ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """The (verdict, reason) of each reviewed alert among ``alert_ids`` (the inbox shows them)."""
    wanted = list(alert_ids)
    if not wanted:
        return {}
    rows = session.execute(select(Alert.id, Alert.review, Alert.review_reason)
                           .where(Alert.id.in_(wanted), Alert.review.is_not(None))).all()
    return {alert_id: (verdict, reason) for alert_id, verdict, reason in rows}
