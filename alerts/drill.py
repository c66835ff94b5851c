"""Drills (演练): replay a file of readings through the rules; everything it raises is an exercise.

The file is CSV with a header ``sensor_id,ts,value`` (ts ISO-8601 with offset). Its times are shifted
so that its first reading happens now, and replayed ``speed`` times faster than real time (None: at
once). Drill readings are judged by the enabled value rules (not ``stale``: that is about the real
feed) but never stored as readings, so they touch neither the real sensors' last values nor the real
alerts: alerts and incidents of a drill carry ``exercise`` = true (CAP status ``Exercise``) and the KPIs
leave them out. When the file ends, the drill's alerts still open are resolved.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alerts.engine import OPEN_ALERT_STATES, EngineRun, enabled_rules
from alerts.evaluator import RESOLVED, Sample, State
from alerts.ingest import RowError, parse_ts
from alerts.rules_schema import StaleCondition
from data.db import Database
from data.models import Alert, Sensor, utcnow

REQUIRED_COLUMNS = ("sensor_id", "ts", "value")


class DrillFileError(ValueError):
    """A drill file that cannot be read at all (missing, not CSV, columns missing)."""


def load_drill_file(path: str | Path) -> tuple[list[Sample], list[dict[str, Any]]]:
    """The readings of a drill file and the rows rejected with a reason (``line`` counts from 1, header 1)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise DrillFileError(f"{path.name}: a drill file is CSV (sensor_id,ts,value)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise DrillFileError(f"{path.name}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DrillFileError(f"{path.name}: cannot read the file: {exc}") from None
    samples: list[Sample] = []
    rejected: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):
        try:
            sensor_id = (row.get("sensor_id") or "").strip()
            if not sensor_id:
                raise RowError("sensor_id is empty")
            ts = parse_ts((row.get("ts") or "").strip())
            try:
                value = float(row.get("value") or "")
            except ValueError:
                raise RowError("value is not a number") from None
            if not math.isfinite(value):
                raise RowError("value must be a finite number (not NaN or infinity)")
        except RowError as exc:
            rejected.append({"line": line, "reason": str(exc)})
            continue
        samples.append(Sample(sensor_id, ts, value))
    return samples, rejected


def run_drill(
    db: Database,
    path: str | Path,
    *,
    speed: float | None = None,
    now: datetime | None = None,
    close: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Replay the drill file ``path``; returns counts (readings, rejected rows with reasons, transitions,
    exercise incidents). ``speed`` N replays N times faster than real time; None replays at once."""
    samples, rejected = load_drill_file(path)
    with db.uow() as session:
        known = set(session.scalars(select(Sensor.id)))
        rules = [rule for rule in enabled_rules(session)[0] if not isinstance(rule.condition, StaleCondition)]
    unknown = sorted({s.sensor_id for s in samples} - known)
    rejected += [{"line": None, "reason": f"unknown sensor {sensor_id!r}"} for sensor_id in unknown]
    samples = sorted((s for s in samples if s.sensor_id in known), key=lambda s: (s.ts, s.sensor_id))
    counts: dict[str, Any] = {"readings": 0, "fired": 0, "resolved": 0, "incidents": 0, "rejected": rejected}
    if not samples:
        return counts
    shift = (now or utcnow()) - samples[0].ts
    shifted = [Sample(s.sensor_id, s.ts + shift, s.value) for s in samples]
    groups = [list(group) for _, group in groupby(shifted, key=lambda s: s.ts)] if speed else [shifted]
    state: State | None = None
    previous: datetime | None = None
    for group in groups:
        at = group[-1].ts
        if speed and previous is not None:
            sleep(max(0.0, (group[0].ts - previous).total_seconds() / speed))
        previous = group[0].ts
        with db.uow() as session:
            run = EngineRun(session, at, rules, exercise=True)
            if state is not None:
                run.state = state  # the drill's own memory (rate, repeat, late readings) across steps
            run.primed = set(known)  # never prime from the real readings
            run.judge(group, 0)
            run.finish()
            state = run.state
            for kind in ("readings", "fired", "resolved", "incidents"):
                counts[kind] += run.counts[kind]
    if close:
        with db.uow() as session:
            still_open = session.scalars(
                select(Alert).where(Alert.exercise.is_(True), Alert.state.in_(OPEN_ALERT_STATES))
            ).all()
            for alert in still_open:
                if alert.fired_at is None:
                    session.delete(alert)  # pending, never fired: not kept (DESIGN §5)
                else:
                    alert.state, alert.resolved_at = RESOLVED, max(previous, alert.started_at)
            counts["closed_at_end"] = len(still_open)
    return counts
