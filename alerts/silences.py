"""Muting alert notification: silences, maintenance windows and inhibition (DESIGN §5).

A silence or a maintenance window matches alerts by rule, sensor and/or grid (every criterion given
must match) during [starts_at, ends_at). Inhibition: while a sensor is offline (its ``stale`` alert
fires, or an operator set it so), the alerts of its value rules are muted — a dead sensor's last values
are not news. Muting never loses an alert: the alert is still stored, listed and resolved; ``muted``
says why it is quiet, and a muted alert files no incident by itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules_schema import RuleSpec, StaleCondition
from data.audit import write_audit
from data.models import Alert, Grid, Rule, Sensor, Silence, utcnow
from domain.permissions import Permission, require

SILENCE = "silence"
MAINTENANCE = "maintenance"
INHIBITED = "inhibited"
SILENCE_KINDS: tuple[str, ...] = (SILENCE, MAINTENANCE)
OFFLINE = "offline"


class SilenceError(ValueError):
    """A silence that cannot be created; ``code`` is the API error code, ``field`` the offending field."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.code = code
        self.field = field


@dataclass(frozen=True)
class _Matcher:
    kind: str
    rule_id: str | None
    sensor_id: str | None
    grid_id: int | None

    def matches(self, alert: Alert, grid_id: int | None) -> bool:
        return (
            (self.rule_id is None or self.rule_id == alert.rule_id)
            and (self.sensor_id is None or self.sensor_id == alert.sensor_id)
            and (self.grid_id is None or self.grid_id == grid_id)
        )


def create_silence(
    session: Session,
    *,
    starts_at: datetime,
    ends_at: datetime,
    kind: str = SILENCE,
    rule_id: str | None = None,
    sensor_id: str | None = None,
    grid_code: str | None = None,
    reason: str | None = None,
    created_by: int | None = None,
    now: datetime | None = None,
) -> Silence:
    """Add a silence (or maintenance window) and re-mute the open alerts at once; raises SilenceError."""
    if kind not in SILENCE_KINDS:
        raise SilenceError("invalid_field", "kind", f"must be one of {', '.join(SILENCE_KINDS)}")
    if not (rule_id or sensor_id or grid_code):
        raise SilenceError("invalid_field", "rule_id", "give at least one of rule_id, sensor_id, grid_code")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise SilenceError("invalid_field", "starts_at", "times need a timezone offset")
    if ends_at <= starts_at:
        raise SilenceError("invalid_field", "ends_at", "must be after starts_at")
    if rule_id and session.get(Rule, rule_id) is None:
        raise SilenceError("unknown_rule", "rule_id", f"no rule {rule_id!r}")
    if sensor_id and session.get(Sensor, sensor_id) is None:
        raise SilenceError("unknown_sensor", "sensor_id", f"no sensor {sensor_id!r}")
    grid_id = None
    if grid_code:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == grid_code))
        if grid_id is None:
            raise SilenceError("unknown_grid", "grid_code", f"no grid {grid_code!r}")
    silence = Silence(
        kind=kind, rule_id=rule_id or None, sensor_id=sensor_id or None, grid_id=grid_id,
        starts_at=starts_at, ends_at=ends_at, reason=reason, created_by=created_by,
    )
    session.add(silence)
    session.flush()
    refresh_mutes(session, now or utcnow())
    return silence


def active_silences(session: Session, now: datetime) -> list[Silence]:
    """Silences and maintenance windows in force at ``now``."""
    query = select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now).order_by(Silence.id)
    return list(session.scalars(query))


def _value_rule_ids(session: Session, rules: Iterable[RuleSpec] | None) -> set[str]:
    """The ids of the rules that judge values (every condition but ``stale``)."""
    if rules is not None:
        return {rule.id for rule in rules if not isinstance(rule.condition, StaleCondition)}
    return {
        rule_id for rule_id, body in session.execute(select(Rule.id, Rule.body))
        if (body or {}).get("condition", {}).get("type") != "stale"
    }


def refresh_mutes(
    session: Session,
    now: datetime,
    alerts: Collection[Alert] | None = None,
    *,
    rules: Iterable[RuleSpec] | None = None,
) -> int:
    """Set ``muted`` on open alerts (``alerts``, default every open one) as of ``now``; returns how many changed.

    Order of reasons: maintenance, then silence, then inhibition.
    """
    if alerts is None:
        alerts = list(session.scalars(select(Alert).where(Alert.state.in_(("pending", "firing")))))
    if not alerts:
        return 0
    matchers = [_Matcher(s.kind, s.rule_id, s.sensor_id, s.grid_id) for s in active_silences(session, now)]
    sensor_ids = sorted({alert.sensor_id for alert in alerts})
    sensors = {
        sensor_id: (grid_id, status)
        for sensor_id, grid_id, status in session.execute(
            select(Sensor.id, Sensor.grid_id, Sensor.status).where(Sensor.id.in_(sensor_ids))
        )
    }
    value_rules = _value_rule_ids(session, rules)
    changed = 0
    for alert in alerts:
        grid_id, status = sensors.get(alert.sensor_id, (None, None))
        reasons = {m.kind for m in matchers if m.matches(alert, grid_id)}
        if status == OFFLINE and alert.rule_id in value_rules:
            reasons.add(INHIBITED)
        muted = next((reason for reason in (MAINTENANCE, SILENCE, INHIBITED) if reason in reasons), None)
        if alert.muted != muted:
            alert.muted = muted
            changed += 1
    return changed


def add_silence(session: Session, actor: Any, *, starts_at: datetime, ends_at: datetime, kind: str = SILENCE,
                rule_id: str | None = None, sensor_id: str | None = None, grid_code: str | None = None,
                reason: str | None = None, now: datetime | None = None) -> Silence:
    """The one door for a person silencing alerts (API, console): ``alert.silence`` permission, the silence
    (``create_silence``) and its audit row. Raises Forbidden or SilenceError."""
    require(getattr(actor, "role", None), Permission.ALERT_SILENCE)
    silence = create_silence(session, starts_at=starts_at, ends_at=ends_at, kind=kind, rule_id=rule_id,
                             sensor_id=sensor_id, grid_code=grid_code, reason=reason, created_by=actor.id, now=now)
    write_audit(session, actor, "silence.create", f"silence:{silence.id}", detail={"kind": kind})
    return silence


def end_silence(session: Session, actor: Any, silence_id: int, now: datetime) -> Silence | None:
    """The one door for a person ending a silence now: permission, ``expire_silence``, audit row. None (and
    no row) when there is no such silence."""
    require(getattr(actor, "role", None), Permission.ALERT_SILENCE)
    silence = expire_silence(session, silence_id, now)
    if silence is not None:
        write_audit(session, actor, "silence.end", f"silence:{silence_id}")
    return silence


def expire_silence(session: Session, silence_id: int, now: datetime) -> Silence | None:
    """End a silence now (kept for the record); re-mutes the open alerts. None if there is no such silence."""
    silence = session.get(Silence, silence_id)
    if silence is None:
        return None
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at)
        session.flush()
        refresh_mutes(session, now)
    return silence
