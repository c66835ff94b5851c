"""The command board's sensors and alerts (issue 18 §3): the firing alerts of an event's area (the board map's
alerts layer) and the last hour's trend of the few sensors worth watching — those alerting first, the most
severe first, then the ones nearest the event's centre. Read queries over what ``dispatch.emergency.board``
already found in the area (its sensors, the event's place and whether it is an exercise)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from data.models import Alert, Reading, Rule, utcnow
from domain.states import ALERT_LEVEL_RANK

#: At most this many sensors show their trend on the board.
TREND_SENSORS_MAX = 8
#: The trend covers this much time before now, in this many equal slots (a slot is the mean of its readings).
TREND_WINDOW = timedelta(hours=1)
TREND_SLOTS = 12
#: At most this many firing alerts go on the board map's alerts layer (the most severe kept).
ALERTS_MAX = 500


def _rank(level: str | None) -> int:
    return ALERT_LEVEL_RANK.get(level or "", -1)


def _distance(sensor: dict[str, Any], lon: float, lat: float) -> float:
    """A planar distance in degrees of latitude: enough to order sensors a few kilometres apart."""
    return math.hypot((sensor["lon"] - lon) * math.cos(math.radians(lat)), sensor["lat"] - lat)


def trend_sensors(sensors: Sequence[dict[str, Any]], lon: float, lat: float,
                  limit: int = TREND_SENSORS_MAX) -> list[dict[str, Any]]:
    """The sensors whose trend the board shows: alerting ones first (the most severe level first), then by
    distance from the event's centre (``lon``, ``lat``), at most ``limit``."""
    return sorted(sensors, key=lambda s: (-_rank(s.get("level")), _distance(s, lon, lat), s["id"]))[:limit]


def area_alerts(session: Session, sensors: Sequence[dict[str, Any]], *, exercise: bool,
                limit: int = ALERTS_MAX) -> list[dict[str, Any]]:
    """The firing alerts of the area's ``sensors`` (an exercise event sees its exercise's alerts only), each
    placed at its sensor: ``id, rule_id, rule, sensor_id, level, value, fired_at, lon, lat`` (``rule`` the rule's
    name {zh, en} when it has one), the most severe first, then the earliest fired."""
    where = {s["id"]: s for s in sensors}
    if not where:
        return []
    rows = session.execute(select(Alert.id, Alert.rule_id, Alert.sensor_id, Alert.level, Alert.value,
                                  Alert.fired_at, Alert.started_at)
                           .where(Alert.state == "firing", Alert.exercise.is_(exercise),
                                  Alert.sensor_id.in_(list(where)))).all()
    rules = {rule_id: body.get("name") for rule_id, body in
             session.execute(select(Rule.id, Rule.body).where(Rule.id.in_({row.rule_id for row in rows})))}
    alerts = [{"id": row.id, "rule_id": row.rule_id, "rule": rules.get(row.rule_id), "sensor_id": row.sensor_id,
               "level": row.level, "value": row.value, "fired_at": (row.fired_at or row.started_at).isoformat(),
               "lon": where[row.sensor_id]["lon"], "lat": where[row.sensor_id]["lat"]} for row in rows]
    alerts.sort(key=lambda a: (-_rank(a["level"]), a["fired_at"], a["id"]))
    return alerts[:limit]


def _window_start(now: datetime, window: timedelta, slots: int) -> datetime:
    """Where the trend starts: slots keep fixed edges (multiples of their width since the epoch), the last one
    holding now, so a tick without new readings draws the same trend (and the board sends nothing)."""
    width = window / slots
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    return epoch + ((now - epoch) // width + 1) * width - window


def _slot_of_ts(session: Session, start: datetime, width: timedelta) -> Any:
    """The SQL of a reading's slot number (0 = the slot from ``start``), in whole seconds of its ``ts``: the
    database averages each slot, so a sensor reporting every few seconds costs the board no more rows."""
    start_s, width_s = int(start.timestamp()), int(width.total_seconds())
    if session.get_bind().dialect.name == "sqlite":  # ts is naive UTC text: strftime('%s') reads it as UTC
        return (cast(func.strftime("%s", Reading.ts), Integer) - start_s) // width_s
    return cast(func.floor((func.extract("epoch", Reading.ts) - start_s) / width_s), Integer)


def sensor_trends(session: Session, sensors: Sequence[dict[str, Any]], lon: float, lat: float,
                  now: datetime | None = None, *, limit: int = TREND_SENSORS_MAX, window: timedelta = TREND_WINDOW,
                  slots: int = TREND_SLOTS) -> list[dict[str, Any]]:
    """The trend of the sensors ``trend_sensors`` picks: each ``id, name, unit, level, value`` with ``points``
    (the means of about the last ``window`` in ``slots`` slots, oldest first, the last one holding now and maybe
    partial, None where no reading came) and ``change`` (the last slot with readings minus the first one; None
    with fewer than two)."""
    chosen = trend_sensors(sensors, lon, lat, limit)
    if not chosen:
        return []
    start = _window_start(now or utcnow(), window, slots)
    slot = _slot_of_ts(session, start, window / slots)
    series: dict[str, list[float | None]] = {s["id"]: [None] * slots for s in chosen}
    for sensor_id, index, mean in session.execute(
            select(Reading.sensor_id, slot, func.avg(Reading.value))
            .where(Reading.sensor_id.in_(list(series)), Reading.ts >= start).group_by(Reading.sensor_id, slot)):
        series[sensor_id][min(int(index), slots - 1)] = round(float(mean), 4)
    trends = []
    for sensor in chosen:
        points = series[sensor["id"]]
        known = [p for p in points if p is not None]
        trends.append({"id": sensor["id"], "name": sensor["name"], "unit": sensor["unit"], "level": sensor["level"],
                       "value": sensor["value"], "points": points,
                       "change": round(known[-1] - known[0], 4) if len(known) > 1 else None})
    return trends
