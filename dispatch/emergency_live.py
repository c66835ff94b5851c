"""Live evaluation of real emergency events (issue 18 §2): a scheduler job (``evaluate_events``, every
``CITYOPS_EMERGENCY_LIVE_INTERVAL_S``) checks each active, non-exercise event's plan conditions against the
live alerts and incidents of its area and moves the response level the way the plan says.

- Raise at once: when a higher level's start condition (or the current level's raise condition) holds, the
  event goes to the highest such level — a rising situation is never left waiting.
- Lower and end after a hold time: when the current level's ``lower`` condition (else its ``end`` condition)
  holds, it must go on holding for ``CITYOPS_EMERGENCY_HOLD_MINUTES`` (``calm_since`` on the event counts it)
  before the level goes down one step (or the event is closed); any break, or any level change, starts the
  count again, so a level never flaps on an alert that comes and goes.
- A move the level lists under ``confirm`` (e.g. raising beyond level III, ending the response) is not made:
  it is written once into the timeline as a suggestion (``suggest``) for the commander to confirm (会商研判).

Every move goes through the service functions (``change_level``, ``close_event``) with the system as the actor,
a reason naming the condition, one timeline entry and one audit row, and the version this job read: if a
commander changed the event meanwhile, the move is refused for this tick and evaluated again on the next.
Exercise events are left to the drill (``dispatch.emergency.drill_step``).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.emergency_models import EmergencyEvent, EventTimeline
from data.models import Rule
from dispatch import emergency
from dispatch.emergency_plans import (
    LEVEL_RANK,
    AlertCondition,
    AlertsClearCondition,
    IncidentsCondition,
    LevelSpec,
    PlanSpec,
)
from i18n import t
from settings import get_settings

log = logging.getLogger(__name__)
#: The timeline kinds that start a new level episode (a suggestion is made once per episode).
LEVEL_KINDS = ("activate", "raise", "lower")


def describe(session: Session, condition: Any, lang: str) -> str:
    """The condition in words (the reason of an automatic move)."""
    if isinstance(condition, AlertCondition | AlertsClearCondition):
        rule = session.get(Rule, condition.rule)
        name = (rule.body.get("name") or {}).get(lang) if rule is not None else None
        key = "alert" if isinstance(condition, AlertCondition) else "alerts_clear"
        return t(f"emergency_live.condition.{key}", lang, rule=name or condition.rule,
                 level=t(f"level.{condition.level}", lang), count=getattr(condition, "count", 1))
    if isinstance(condition, IncidentsCondition):
        return t("emergency_live.condition.incidents", lang, count=condition.count,
                 hours=f"{condition.within_hours:g}", radius=f"{condition.radius_m:g}",
                 category=condition.category or "")
    return t("emergency_live.condition.manual", lang)


def _suggested_before(session: Session, event: EmergencyEvent, move: str, level_to: str | None) -> bool:
    """Whether this move was already suggested since the event's level last changed."""
    entries = session.scalars(select(EventTimeline).where(
        EventTimeline.event_id == event.id, EventTimeline.kind.in_((*LEVEL_KINDS, "suggest")))
        .order_by(EventTimeline.at.desc(), EventTimeline.id.desc()))
    for entry in entries:
        if entry.kind != "suggest":
            return False
        if (entry.data or {}).get("move") == move and entry.level_to == level_to:
            return True
    return False


def _move(session: Session, event: EmergencyEvent, level: LevelSpec, move: str, target: str | None,
          condition: Any, now: datetime) -> str | None:
    """Make the move (``raise``/``lower`` to ``target``, or ``end``), or suggest it when the level asks for
    confirmation; returns what was done."""
    lang = get_settings().lang
    reason = t(f"emergency_live.reason.{move}", lang, condition=describe(session, condition, lang))
    if move in level.confirm:
        if _suggested_before(session, event, move, target):
            return None
        emergency.suggest_move(session, event.id, move=move, level_to=target, note=reason, now=now)
        return "suggested"
    if move == "end":
        emergency.close_event(session, None, event.id, reason=reason, now=now, version=event.version)
        return "ended"
    emergency.change_level(session, None, event.id, level=target or "", reason=reason, now=now,
                           version=event.version)
    return "raised" if move == "raise" else "lowered"


def _calming(spec: PlanSpec, level: LevelSpec) -> list[tuple[str, str | None, tuple[Any, ...]]]:
    """The moves down from ``level`` in the order they are tried: one step lower, then the end."""
    index = [lv.level for lv in spec.levels].index(level.level)
    moves: list[tuple[str, str | None, tuple[Any, ...]]] = []
    if index > 0:
        moves.append(("lower", spec.levels[index - 1].level, level.conditions.lower))
    moves.append(("end", None, level.conditions.end))
    return moves


def evaluate_event(session: Session, event: EmergencyEvent, now: datetime, *, hold: timedelta) -> str | None:
    """One evaluation of a real event's plan: raise, lower, end, suggest, or start/stop the hold count
    (``calming``, ``calm_broken``); None when nothing changed."""
    spec = emergency.event_plan(session, event)
    level = spec.level(event.level) if spec is not None and event.level is not None else None
    if spec is None or level is None:
        return None
    found = emergency.suggested(session, event, spec, now)
    if found is not None and LEVEL_RANK[found[0]] > LEVEL_RANK[level.level]:
        return _move(session, event, level, "raise", found[0], found[1], now)
    radius = event.radius_m or spec.radius_m
    for move, target, conditions in _calming(spec, level):
        held = emergency.holding_condition(session, event, conditions, radius, now)
        if held is None:
            continue
        if event.calm_since is None:
            event.calm_since = now
            return "calming"
        if now - event.calm_since < hold:
            return None
        return _move(session, event, level, move, target, held, now)
    if event.calm_since is not None:
        event.calm_since = None
        return "calm_broken"
    return None


def evaluate_events(session: Session, now: datetime) -> dict[str, int]:
    """The scheduler job: evaluate every active real event that runs a plan; returns counts of what was done.
    Each event is evaluated in a savepoint of its own, so a refused move (a commander's write won the race)
    leaves the others alone."""
    hold = timedelta(minutes=get_settings().emergency_hold_minutes)
    events = session.scalars(select(EmergencyEvent).where(
        EmergencyEvent.state == emergency.ACTIVE, EmergencyEvent.exercise.is_(False),
        EmergencyEvent.plan_id.is_not(None), EmergencyEvent.level.is_not(None)).order_by(EmergencyEvent.id)).all()
    done: Counter[str] = Counter()
    for event in events:
        try:
            with session.begin_nested():
                outcome = evaluate_event(session, event, now, hold=hold)
        except emergency.EmergencyError as exc:
            log.info("live evaluation of event %s refused: %s", event.code, exc.message)
            outcome = "refused"
        if outcome is not None:
            done[outcome] += 1
    return dict(done)
