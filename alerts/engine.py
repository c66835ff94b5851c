"""The database edge of the alert engine: feed new readings to the pure evaluator and persist the outcome.

``evaluate_pending`` reads the readings stored since the durable cursor (``job_state`` key
``alerts.cursor``) in id order and bounded batches, rebuilds the evaluator's state from the open
alerts and the sensors' last evaluated readings, writes Alert rows (and incidents for rules that
auto-create them) and the notifications of the alerts that fire (``dispatch.outbox``), keeps each
sensor's ``last_received_at`` (what ``stale`` judges) and moves the cursor — all in the caller's
transaction, so a run that fails leaves neither duplicate alerts nor skipped readings behind.

The worker (``alerts.scheduler``) passes an ``EngineMemory``: the sensors, rule matching and every (rule, sensor)
state of its previous run, used again when that run was the last one committed and nothing it relied on has
changed (issue 21: at 100,000 sensors, rebuilding it every run cost more than judging the readings).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import (
    ARRAY,
    DateTime,
    Float,
    String,
    Text,
    bindparam,
    cast,
    column,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from alerts.evaluator import (
    FIRING,
    PENDING,
    RESOLVED,
    TRANSITION_KINDS,
    Evaluator,
    KeyState,
    OpenAlert,
    Sample,
    SensorInfo,
    State,
    Transition,
    aqi_memory,
    evaluate,
    history_depth,
    prime_state,
    supported,
)
from alerts.ingest import INGEST_LOCK_KEY, dialect_insert
from alerts.ports import desk
from alerts.rules_schema import (
    LEVEL_RANK,
    AqiCondition,
    RuleSpec,
    RuleValidationError,
    StaleCondition,
    validate_rule,
)
from alerts.silences import INHIBITED, OFFLINE, refresh_mutes
from alerts.triage import file_incident
from data.models import Alert, JobState, Reading, Rule, Sensor, UTCDateTime, utcnow
from data.partitions import naive_utc
from data.readings import floor_hour, hourly_points, raw_hourly_points
from domain.errors import DomainError
from domain.states import OPEN_ALERT_STATES

log = logging.getLogger(__name__)

CURSOR_KEY = "alerts.cursor"
#: Readings per batch: bounds memory and the size of each query, not the work of one run. Each batch also
#: costs a pass over every sensor (``stale`` rules, last receipts) and every open key, so at 10,000s of
#: sensors small batches cost more than their readings (issue 21: 5,000 → 20,000).
BATCH_SIZE = 20_000
#: Sensors per history query (SQLite allows 500 terms in one compound SELECT).
_HISTORY_CHUNK = 200
SENSOR_ONLINE = "online"
SENSOR_OFFLINE = "offline"
HOUR = timedelta(hours=1)
#: The longest window of an ``aqi`` rule (``24h``): how far back its hourly means are read.
AQI_WINDOW = timedelta(hours=24)


def enabled_rules(session: Session) -> tuple[list[RuleSpec], list[str]]:
    """The enabled rules this evaluator can judge, and the ids of enabled rules it has to skip."""
    rules: list[RuleSpec] = []
    skipped: list[str] = []
    for rule_id, body in session.execute(select(Rule.id, Rule.body).where(Rule.enabled).order_by(Rule.id)):
        try:
            spec = validate_rule(body)
        except RuleValidationError as exc:
            log.error("rule %s is stored but does not validate, skipped: %s", rule_id, exc)
            skipped.append(rule_id)
            continue
        if not supported(spec):
            log.warning(
                "rule %s: condition type %r is not evaluated yet, skipped", rule_id, spec.condition.type
            )
            skipped.append(rule_id)
            continue
        rules.append(spec)
    return rules, skipped


def claim_cursor(session: Session, key: str = CURSOR_KEY) -> JobState:
    """The reading-id cursor row ``key`` (``{"reading_id": n}``, made at 0 when missing), locked for this
    run (row lock on PostgreSQL, the write lock on SQLite)."""
    session.execute(
        dialect_insert(session, JobState.__table__)
        .values(key=key, value={"reading_id": 0})
        .on_conflict_do_nothing(index_elements=["key"])
    )
    stmt = (
        select(JobState)
        .where(JobState.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def _sensors(session: Session) -> dict[str, SensorInfo]:
    """Every sensor as the evaluator sees it. The tags come as JSON text, parsed once per distinct text (most
    sensors share a few tag sets; issue 21: parsing every sensor's tags was a seventh of a run)."""
    rows = session.execute(select(Sensor.id, Sensor.kind, cast(Sensor.tags, Text), Sensor.last_ts,
                                  Sensor.last_received_at))
    tag_sets: dict[str | None, frozenset[str]] = {}

    def tag_set(raw: str | None) -> frozenset[str]:
        found = tag_sets.get(raw)
        if found is None:
            found = tag_sets[raw] = frozenset(json.loads(raw) or ()) if raw else frozenset()
        return found

    return {
        sensor_id: SensorInfo(sensor_id, kind, tag_set(tags), last_ts, last_received)
        for sensor_id, kind, tags, last_ts, last_received in rows
    }


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


#: PostgreSQL: the last ``depth`` evaluated readings of every sensor of one array parameter, in one statement
#: (a LATERAL index seek per sensor) — no SQL text growing with the sensors for SQLAlchemy to build and
#: compile and psycopg to parse, which cost more than the database's work (issue 21).
_PG_HISTORY = text(
    "SELECT s.id, r.ts, r.value FROM unnest(:ids) AS s(id) CROSS JOIN LATERAL ("
    " SELECT ts, value FROM readings WHERE sensor_id = s.id AND id <= :cursor ORDER BY ts DESC LIMIT :depth) AS r"
).bindparams(bindparam("ids", type_=ARRAY(String))).columns(column("id", String), column("ts", UTCDateTime),
                                                            column("value", Float))
#: PostgreSQL: each sensor's ``last_received_at`` moved on to the newest receipt of a run (never back), one
#: statement for the run instead of one UPDATE per sensor and batch.
_PG_NOTE_RECEIVED = text(
    "UPDATE sensors SET last_received_at = b.received FROM unnest(:ids, :received) AS b(id, received)"
    " WHERE sensors.id = b.id AND (sensors.last_received_at IS NULL OR sensors.last_received_at < b.received)"
).bindparams(bindparam("ids", type_=ARRAY(String)), bindparam("received", type_=ARRAY(DateTime)))


def _history(session: Session, sensor_ids: Iterable[str], cursor: int, depth: int) -> list[Sample]:
    """The last ``depth`` readings (by ts) of each sensor among those already evaluated (id ≤ cursor)."""
    ids = sorted(sensor_ids)
    if _is_postgresql(session):
        rows = session.execute(_PG_HISTORY, {"ids": ids, "cursor": cursor, "depth": depth})
        return [Sample(sensor_id, ts, value) for sensor_id, ts, value in rows]
    samples: list[Sample] = []
    for start in range(0, len(ids), _HISTORY_CHUNK):
        parts = []
        for sensor_id in ids[start : start + _HISTORY_CHUNK]:
            latest = (
                select(Reading.sensor_id, Reading.ts, Reading.value)
                .where(Reading.sensor_id == sensor_id, Reading.id <= cursor)
                .order_by(Reading.ts.desc())
                .limit(depth)
                .subquery()
            )
            parts.append(select(latest.c.sensor_id, latest.c.ts, latest.c.value))
        query = parts[0] if len(parts) == 1 else union_all(*parts)
        samples.extend(Sample(sensor_id, ts, value) for sensor_id, ts, value in session.execute(query))
    return samples


def sensors_token(session: Session) -> tuple:
    """A cheap fingerprint of what rules match sensors on — each sensor's id, kind and tags — that changes when
    a sensor is added, removed, or gets another kind or tags (issue 21: the worker reloads its 100,000 sensors
    only then). Ingestion moves the sensors' last values all the time, so no row version can serve. PostgreSQL:
    count and a sum of hashes, in the server; SQLite (the embedded city): the rows themselves, hashed here."""
    if _is_postgresql(session):
        return tuple(session.execute(text(
            "SELECT count(*), coalesce(sum(hashtext(id || chr(31) || kind || chr(31) || coalesce(tags::text, ''))),"
            " 0) FROM sensors")).one())
    rows = session.execute(select(Sensor.id, Sensor.kind, cast(Sensor.tags, Text)).order_by(Sensor.id)).all()
    return len(rows), hash(tuple(map(tuple, rows)))


@dataclass(eq=False)
class EngineMemory:
    """What the worker's evaluator keeps from one run to the next (issue 21): the sensors, the evaluator with its
    rule matching, every (rule, sensor) state and the sensors primed from history — so a run judges only its new
    readings instead of reloading and re-priming every sensor it sees.

    It is used only when the run that built it was the last committed evaluation: each run writes a fresh
    ``token`` next to ``reading_id`` in the cursor row and keeps it here, and the next run compares. A run rolled
    back, another process evaluating in between (``POST /api/v1/evaluate``, a second worker), other enabled rules
    or other sensors (``sensors_token``), or open alerts that differ from the stored ones: the run rebuilds
    everything from the database, as a run without memory does every time."""

    token: str | None = None
    rules: list[RuleSpec] = field(default_factory=list)
    sensors_token: tuple = ()
    sensors: dict[str, SensorInfo] = field(default_factory=dict)
    evaluator: Evaluator | None = None
    state: State = field(default_factory=dict)
    primed: set[str] = field(default_factory=set)
    #: Primed sensors that had a late reading since: primed again from history at their next run, as a run
    #: without memory would (it primes every sensor it sees, and history holds the late readings too).
    dirty: set[str] = field(default_factory=set)
    #: Runs that could use what was kept, and runs that had to rebuild (tests and benchmarks read them).
    reused: int = 0
    rebuilt: int = 0


def _open_alert(row: Alert) -> OpenAlert:
    return OpenAlert(row.state, row.level, row.value, row.started_at, row.fired_at)


class EngineRun:
    """One call of ``evaluate_pending``: the rules, sensors, open Alert rows and evaluator state.

    ``kept``: the sensors, evaluator, state and primed sensors of the previous run, already checked to be current
    (``evaluate_pending``); None builds them from the database. ``clock_each_batch`` judges ``stale`` rules and
    orphaned alerts after every batch (drills); ``evaluate_pending`` does it once per run (``judge_clock``).
    """

    def __init__(self, session: Session, now: datetime, rules: Sequence[RuleSpec], *, exercise: bool = False,
                 kept: EngineMemory | None = None, clock_each_batch: bool = True) -> None:
        self.session = session
        self.now = now
        self.exercise = exercise
        self.rules = rules
        self.clock_each_batch = clock_each_batch
        self.rules_by_id = {rule.id: rule for rule in rules}
        self.reading_rules = [rule for rule in rules if not isinstance(rule.condition, StaleCondition)]
        self.sensors = kept.sensors if kept is not None else _sensors(session)
        self.evaluator = kept.evaluator if kept is not None and kept.evaluator is not None else None
        self.counts: Counter[str] = Counter()
        #: Sensors whose state was primed from history (in this run or, kept, in an earlier one), those of them
        #: with a late reading since, and the sensors this run has seen so far.
        self.primed: set[str] = set()
        self.dirty: set[str] = set()
        self.seen: set[str] = set()
        #: Sensor id → the newest receipt of its readings judged in this run, not written yet.
        self.received: dict[str, datetime] = {}
        #: Stale alerts' sensor status moves (sensor id, from, to), in order, written at the end of the run.
        self.statuses: list[tuple[str, str, str]] = []
        #: Alerts that fired (or went on firing) in this run, with the highest level they reached.
        self.fired: dict[int, tuple[Alert, str]] = {}
        open_rows = session.scalars(
            select(Alert)
            .where(Alert.state.in_(OPEN_ALERT_STATES), Alert.exercise.is_(exercise))
            .order_by(Alert.id)
        )
        self.rows: dict[tuple[str, str], Alert] = {}
        self.state: State = {}
        for row in open_rows:
            key = (row.rule_id, row.sensor_id)
            if key in self.rows:  # cannot happen through this engine; never let it open a second alert
                log.error("alert %s duplicates open alert %s, resolving it", row.id, self.rows[key].id)
                row.state, row.resolved_at = RESOLVED, now
                kept = None
                continue
            self.rows[key] = row
            self.state[key] = KeyState(_open_alert(row), row.last_ts)
        #: Whether the state kept from the previous run is used (the open alerts stored are the ones it knows).
        self.reused = kept is not None and self._knows_open_alerts(kept.state)
        if self.reused:
            self.state, self.primed, self.dirty = kept.state, kept.primed, kept.dirty
        self.aqi_rules = {rule.id for rule in rules if isinstance(rule.condition, AqiCondition)}

    def _knows_open_alerts(self, state: State) -> bool:
        """Whether ``state`` holds exactly the open alerts stored (no one else opened, changed or closed one)."""
        open_keys = [key for key, ks in state.items() if ks.alert is not None]
        return len(open_keys) == len(self.rows) and all(
            (ks := state.get(key)) is not None and ks.alert == _open_alert(row) for key, row in self.rows.items()
        )

    def _watched(self, sensor_id: str) -> bool:
        info = self.sensors.get(sensor_id)
        return info is not None and any(
            rule.applies_to.matches(info.id, info.kind, info.tags) for rule in self.reading_rules
        )

    def judge(self, batch: Sequence[Sample], cursor: int) -> None:
        """Evaluate one batch (after restoring what earlier runs knew of its sensors) and persist it.

        A sensor is primed from history when this run first sees it: every time without a kept state; with one,
        only if it was never primed, or had a late reading since (``dirty``), or is judged by an ``aqi`` rule and
        has a late reading here (its hours' means come from every stored reading) — so that the state is the
        one a run without memory would have rebuilt."""
        appear = {sample.sensor_id for sample in batch} - self.seen
        self.seen |= appear
        fresh = {sensor_id for sensor_id in appear if sensor_id not in self.primed or sensor_id in self.dirty}
        if self.aqi_rules and self.reused:
            fresh |= self._late_for_aqi(batch, appear - fresh)
        again = fresh & self.primed
        self.primed |= fresh
        self.dirty -= fresh
        fresh = {sensor_id for sensor_id in fresh if self._watched(sensor_id)}
        if fresh:
            self._forget(again & fresh)
            history = _history(self.session, fresh, cursor, history_depth(self.rules))
            self.state = prime_state(self.rules, history, self.state, sensors=self.sensors)
            self._prime_aqi(fresh, cursor)
        if self.clock_each_batch:
            self.state, transitions = evaluate(self.rules, batch, self.state, self.now, sensors=self.sensors)
        else:
            transitions = []
            self._evaluator().judge(self.state, batch, transitions, self.dirty)
        for transition in transitions:
            self._apply(transition)
        self._note_received(batch)
        self.counts["readings"] += len(batch)

    def _late_for_aqi(self, batch: Sequence[Sample], sensor_ids: set[str]) -> set[str]:
        """Those of ``sensor_ids`` with a reading in ``batch`` no newer than what an ``aqi`` rule last judged."""
        late = set()
        for sample in batch:
            if sample.sensor_id in sensor_ids and sample.sensor_id not in late:
                for rule_id in self.aqi_rules:
                    ks = self.state.get((rule_id, sample.sensor_id))
                    if ks is not None and ks.last_ts is not None and sample.ts <= ks.last_ts:
                        late.add(sample.sensor_id)
        return late

    def _forget(self, sensor_ids: set[str]) -> None:
        """Put the reading rules' state of ``sensor_ids`` back to what a run starts from — the open alert as
        stored, no memory — before they are primed again."""
        for sensor_id in sensor_ids:
            for rule in self._evaluator().rules_for(sensor_id):
                key = (rule.id, sensor_id)
                ks, row = self.state.get(key), self.rows.get(key)
                if ks is None:
                    continue
                if ks.alert is None:
                    del self.state[key]
                else:
                    self.state[key] = KeyState(ks.alert, ks.last_ts if row is None else row.last_ts)

    def _evaluator(self) -> Evaluator:
        if self.evaluator is None:
            self.evaluator = Evaluator(self.rules, self.sensors)
        return self.evaluator

    def judge_clock(self) -> None:
        """Once after the run's batches: the ``stale`` rules at ``now``, the run's receipts included, and the
        open alerts of rules gone or disabled or no longer watching their sensor (issue 21: once per run, not
        once per batch — each pass goes over every sensor)."""
        transitions: list[Transition] = []
        self._evaluator().clock(self.state, self.now, transitions, self.received)
        for transition in transitions:
            self._apply(transition)

    def _prime_aqi(self, sensor_ids: set[str], cursor: int) -> None:
        """Rebuild what ``aqi`` rules remember of earlier runs — the clock hour being filled, from the readings
        already evaluated (id ≤ ``cursor``), and the hourly means of the hours before it in the rule's window
        (``data.readings.hourly_points``) — so an hour's mean is of all its readings however runs cut it."""
        keys = []
        for rule in self.rules:
            if not isinstance(rule.condition, AqiCondition):
                continue
            for sensor_id in sorted(sensor_ids):
                ks = self.state.get((rule.id, sensor_id))
                if ks is not None and ks.last_ts is not None:
                    keys.append((rule, sensor_id, floor_hour(ks.last_ts)))
        if not keys:
            return
        ids = sorted({sensor_id for _, sensor_id, _ in keys})
        first, last = min(hour for *_, hour in keys), max(hour for *_, hour in keys)
        filling = raw_hourly_points(self.session, ids, first, last + HOUR, up_to_id=cursor)
        before = hourly_points(self.session, ids, first - AQI_WINDOW, last)
        for rule, sensor_id, hour in keys:
            part = filling.get((sensor_id, hour))
            if part is None:
                continue
            means = [(point.bucket, point.mean) for point in before.get(sensor_id, ()) if point.bucket < hour]
            memory = aqi_memory(rule.condition, self.sensors[sensor_id].kind, hour, part.total, part.count, means)
            key = (rule.id, sensor_id)
            self.state[key] = replace(self.state[key], memory=memory)

    def _note_received(self, batch: Sequence[Sample]) -> None:
        """Note the newest receipt of each sensor's readings in the run (drills receive nothing); the sensors
        move on to it, in memory and in the database, once at the end of the run (``_store_received``)."""
        newest = self.received
        for sample in batch:
            received = sample.received_at
            if received is not None:
                known = newest.get(sample.sensor_id)
                if known is None or received > known:
                    newest[sample.sensor_id] = received

    def _store_received(self) -> None:
        """Write the run's ``last_received_at`` moves: one statement at the end of the run, so the sensors'
        rows stay locked against ingestion (which moves their last values) only until the commit that
        follows, not for the whole run (issue 21). The WHERE keeps a newer value written meanwhile."""
        for sensor_id, received in list(self.received.items()):  # only moves on, never back
            info = self.sensors.get(sensor_id)
            if info is None or (info.last_received is not None and info.last_received >= received):
                del self.received[sensor_id]
            else:
                self.sensors[sensor_id] = replace(info, last_received=received)
        if not self.received:
            return
        if _is_postgresql(self.session):
            ids = sorted(self.received)
            self.session.execute(_PG_NOTE_RECEIVED, {"ids": ids,
                                                     "received": [naive_utc(self.received[i]) for i in ids]})
        else:
            table = Sensor.__table__
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .where(or_(table.c.last_received_at.is_(None),
                           table.c.last_received_at < bindparam("b_received", type_=UTCDateTime)))
                .values(last_received_at=bindparam("b_received")),
                [{"b_id": sensor_id, "b_received": received} for sensor_id, received in self.received.items()],
            )
        self.received.clear()

    def _apply(self, t: Transition) -> None:
        key = (t.rule_id, t.sensor_id)
        row = self.rows.get(key)
        self.counts[t.kind] += 1
        if row is None:
            row = Alert(rule_id=t.rule_id, sensor_id=t.sensor_id, started_at=t.started_at, exercise=self.exercise)
            self.session.add(row)
            self.rows[key] = row
        if t.kind == "dropped":  # a pending alert that never fired is not kept
            del self.rows[key]
            if row.id is None:
                self.session.expunge(row)
            else:
                self.session.delete(row)
            return
        row.level, row.value, row.last_ts = t.level, t.value, t.ts
        if t.kind == "pending":
            row.state = PENDING
        elif t.kind == "fired":
            row.state, row.fired_at = FIRING, t.ts
            self._set_sensor_status(row, SENSOR_ONLINE, SENSOR_OFFLINE)
        elif t.kind == "resolved":
            row.state, row.resolved_at = RESOLVED, t.ts
            del self.rows[key]
            self._set_sensor_status(row, SENSOR_OFFLINE, SENSOR_ONLINE)
        if row.fired_at is not None:  # the highest level of this run decides auto-filing (see finish)
            _, peak = self.fired.get(id(row), (row, t.level))
            self.fired[id(row)] = (row, max(peak, t.level, key=LEVEL_RANK.__getitem__))
            row.peak_level = max(row.peak_level or t.level, t.level, key=LEVEL_RANK.__getitem__)

    def file_incidents(self) -> None:
        """File the incident of every unmuted alert, firing now or fired in this run, whose rule
        auto-creates one at its level (the highest it reached in this run).

        Run after the mutes are refreshed, so an alert fired under a silence is filed once the silence
        ends (if it still fires), and one that rises from yellow to red is filed when it reaches red. An
        alert that fired while the offline inhibition muted it is filed at its peak level once its sensor
        is back, even if it has resolved by then (``_released_from_inhibition``).
        """
        candidates = {id(row): (row, row.level) for row in self.rows.values() if row.state == FIRING}
        candidates.update(self.fired)
        released = {id(row): (row, row.peak_level or row.level) for row in self._released_from_inhibition()}
        candidates.update(released)
        for key, (row, level) in candidates.items():
            rule = self.rules_by_id.get(row.rule_id)
            if (
                row.incident_id is not None or (row.muted is not None and key not in released)
                or rule is None or rule.incident is None or not rule.incident.auto_creates(level)
            ):
                continue  # operator triage (or nothing to do)
            try:
                with self.session.begin_nested():
                    filed = file_incident(self.session, row, rule, auto_file=True)
            except DomainError as exc:
                # A misconfigured rule (e.g. an unknown category) must not stop alerting: the alert stays
                # firing without an incident and an operator can file one by hand.
                log.error("rule %s: cannot create the incident of alert on %s: %s", rule.id, row.sensor_id, exc)
                self.counts["incident_errors"] += 1
                continue
            if filed is not None and filed[1]:
                self.counts["incidents"] += 1

    def _released_from_inhibition(self) -> list[Alert]:
        """Alerts that fired from real readings while the offline inhibition muted them, ended muted and
        have no incident yet, whose sensor is back online (DESIGN §5: such an alert is never lost).

        They keep ``muted = inhibited`` as the record of why nobody heard them at the time; only rules
        that auto-create an incident are looked at (triage rules leave them in the inbox, ``alerts.inbox``).
        """
        auto_rules = [rule.id for rule in self.rules if rule.incident is not None and rule.incident.auto_create]
        if not auto_rules:
            return []
        return list(self.session.scalars(
            select(Alert)
            .join(Sensor, Sensor.id == Alert.sensor_id)
            .where(
                Alert.state == RESOLVED, Alert.muted == INHIBITED, Alert.incident_id.is_(None),
                Alert.fired_at.is_not(None), Alert.exercise.is_(self.exercise),
                Alert.rule_id.in_(auto_rules), Sensor.status != OFFLINE,
            )
            .order_by(Alert.id)
        ))

    def finish(self) -> None:
        """After the transitions: re-mute the open alerts (silences, maintenance, inhibition), file incidents,
        and the sensors' writes (under the ingest lock on PostgreSQL). Those go first when a stale alert moves a
        sensor's status, which the mutes read (inhibition by an offline sensor); otherwise last, so that ingestion
        waits only for the commit, not for the incidents and notifications (issue 21: HTTP ingest held a web
        worker through them)."""
        if self.statuses:
            self._write_sensors()
        self.session.flush()
        touched = {id(row): row for row in self.rows.values()} | {key: row for key, (row, _) in self.fired.items()}
        refresh_mutes(self.session, self.now, list(touched.values()), rules=self.rules)
        self.file_incidents()
        self.session.flush()
        desk().alerts_fired(self.session, [(row, self._category(row.rule_id)) for row, _ in self.fired.values()])
        self._write_sensors()
        self.session.flush()

    def _category(self, rule_id: str) -> str | None:
        """The incident category of a rule (whose department hears its alerts), if it files incidents."""
        rule = self.rules_by_id.get(rule_id)
        return rule.incident.category if rule is not None and rule.incident is not None else None

    def _set_sensor_status(self, row: Alert, old: str, new: str) -> None:
        """A stale alert marks its sensor offline while it fires (a status set by hand is left alone)."""
        rule = self.rules_by_id.get(row.rule_id)
        if rule is None or not isinstance(rule.condition, StaleCondition):
            return
        self.statuses.append((row.sensor_id, old, new))

    def _write_sensors(self) -> None:
        """The run's writes to ``sensors``, all at its end: last receipts, then the stale alerts' statuses.
        On PostgreSQL under the ingest lock first: ingestion moves the sensors' last values under that lock,
        so the two never hold some of the same rows each while waiting for the other's (issue 21: a
        deadlock under a steady stream), and ingestion waits only from here to the commit."""
        if _is_postgresql(self.session) and (self.received or self.statuses):
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK_KEY})
        self._store_received()
        for sensor_id, old, new in self.statuses:
            sensor = self.session.get(Sensor, sensor_id)
            if sensor is not None and sensor.status == old:
                sensor.status = new
        self.statuses.clear()


def _kept(session: Session, memory: EngineMemory | None, cursor_value: dict, rules: list[RuleSpec],
          token: tuple | None) -> EngineMemory | None:
    """``memory`` if what it holds is still true of the database (see ``EngineMemory``), else None."""
    if memory is None or memory.token is None or cursor_value.get("token") != memory.token:
        return None
    if memory.rules != rules or memory.sensors_token != token:
        return None
    # Ingestion moves ``last_ts``, which ``stale`` reads for sensors whose receipt is not known yet.
    if any(info.last_received is None for info in memory.sensors.values()):
        for sensor_id, last_ts in session.execute(select(Sensor.id, Sensor.last_ts)
                                                  .where(Sensor.last_received_at.is_(None))):
            info = memory.sensors.get(sensor_id)
            if info is not None and info.last_received is None and info.last_ts != last_ts:
                memory.sensors[sensor_id] = replace(info, last_ts=last_ts)
    return memory


def evaluate_pending(
    session: Session, *, now: datetime | None = None, batch_size: int = BATCH_SIZE,
    memory: EngineMemory | None = None,
) -> dict[str, int]:
    """Evaluate every reading not yet evaluated against the enabled rules; returns counts.

    Counts: ``readings`` judged, ``rules`` evaluated, ``skipped_rules``, one per transition kind
    (``pending``, ``fired``, ``updated``, ``level_changed``, ``resolved``, ``dropped``), ``incidents``
    created, ``incident_errors`` and the new ``cursor``. ``stale`` rules are judged against ``now``
    (wall clock, default the current time). Runs in the caller's transaction and never commits.

    ``memory`` (the worker's, kept between its runs): the state of the previous run, used when it is still
    current (``EngineMemory``) and left for the next run — the same alerts and transitions as rebuilding it.
    """
    now = now or utcnow()
    cursor_row = claim_cursor(session)
    cursor = int(cursor_row.value.get("reading_id", 0))
    rules, skipped = enabled_rules(session)
    token = sensors_token(session) if memory is not None else None
    kept = _kept(session, memory, cursor_row.value, rules, token)
    if memory is not None:
        memory.token = None  # nothing kept is trusted again unless this run ends (and then commits)
    run = EngineRun(session, now, rules, kept=kept, clock_each_batch=False)
    # The readings stored when the run starts, no more: under a steady stream a run still ends and commits
    # its alerts, and the next run takes what came meanwhile (issue 21: chasing the stream, one run held
    # every alert back until ingestion paused).
    last_id = session.scalar(select(func.max(Reading.id))) or 0
    while cursor < last_id:
        batch = session.execute(
            select(Reading.id, Reading.sensor_id, Reading.ts, Reading.value, Reading.received_at)
            .where(Reading.id > cursor, Reading.id <= last_id)
            .order_by(Reading.id)
            .limit(batch_size)
        ).all()
        if not batch:
            break
        run.judge([Sample(sensor_id, ts, value, received) for _, sensor_id, ts, value, received in batch], cursor)
        cursor = batch[-1].id
    # Stale rules are judged against the clock once, after the readings (and even when nothing arrived).
    run.judge_clock()
    run.finish()
    if memory is None:
        cursor_row.value = {"reading_id": cursor}
    else:
        memory.token = uuid.uuid4().hex
        cursor_row.value = {"reading_id": cursor, "token": memory.token}
        memory.rules, memory.sensors_token, memory.sensors = rules, token, run.sensors
        memory.evaluator, memory.state, memory.primed, memory.dirty = run.evaluator, run.state, run.primed, run.dirty
        if run.reused:
            memory.reused += 1
        else:
            memory.rebuilt += 1
    counts = {
        kind: run.counts[kind] for kind in ("readings", *TRANSITION_KINDS, "incidents", "incident_errors")
    }
    return {**counts, "rules": len(rules), "skipped_rules": len(skipped), "cursor": cursor}
