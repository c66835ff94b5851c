"""The big screen's KPI tiles as plain data: each tile's figure now and in the period it is compared with, the
change and whether it is good news, and the target state. The figures come from ``dispatch.kpi`` (the KPI
snapshot of DESIGN §7) and ``dispatch.screen``; how a tile looks is ``layouts.bigscreen_tiles``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from data.layers import per_minute, until_changed
from data.models import Incident, UTCDateTime
from dispatch import kpi, screen
from dispatch.kpi import kpi_snapshot
from dispatch.service import to_iso

#: Rate tiles where up is good; count tiles where up is bad (the others are neutral).
GOOD_WHEN_UP = frozenset({"closure_rate", "on_time_closure_rate", "filing_rate", "handling_rate", "std_closure_rate",
                          "std_on_time_closure_rate"})
BAD_WHEN_UP = frozenset({"open", "red_cards", "yellow_cards", "alerts_firing"})


@dataclass(frozen=True)
class Tile:
    """What one KPI tile shows, as data: the figure (None: undefined; counts per level or source summed), the
    change against the previous period (rates in percentage points rounded to 0.1, counts as a difference;
    None without both figures) and its direction (``up``/``down``/``flat``/``none``), whether the change is
    ``good``/``bad``/``neutral`` news, the target state (``ok``/``amber``/``red``/``none``) and, for alert
    levels and sources, the parts as (level or source, count)."""

    key: str
    value: Any
    delta: float | None = None
    trend: str = "none"
    tone: str = "neutral"
    state: str = "none"
    parts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TilePeriods:
    """The periods the tiles compare: the KPI cohort (``start``, ``end``), the earlier period it is compared
    with (``before``, ``before_until``) and the start of today (for today's intake)."""

    start: datetime
    end: datetime
    before: datetime
    before_until: datetime
    today: datetime


def tile_state(key: str, value: float | None, targets: Mapping[str, tuple[float, float]]) -> str:
    """``red`` below the red target, ``amber`` below the amber one, else ``ok``; ``none`` without a target
    or a value."""
    if value is None or key not in targets:
        return "none"
    amber, red = targets[key]
    if value < red:
        return "red"
    return "amber" if value < amber else "ok"


def tile_change(key: str, value: float | None, previous: float | None) -> tuple[float | None, str]:
    """The change against the previous period — rates in percentage points (to 0.1 pt), counts as numbers —
    and its direction."""
    if value is None or previous is None:
        return None, "none"
    delta: float = round((value - previous) * 100, 1) if key.endswith("_rate") else value - previous
    if delta == 0:
        return delta, "flat"
    return delta, "up" if delta > 0 else "down"


def tile_tone(key: str, trend: str) -> str:
    """Whether a change is good news (closure rates up, cards down), bad news or neither."""
    if trend not in ("up", "down"):
        return "neutral"
    if key in GOOD_WHEN_UP:
        return "good" if trend == "up" else "bad"
    if key in BAD_WHEN_UP:
        return "bad" if trend == "up" else "good"
    return "neutral"


def build_tile(key: str, current: Mapping[str, Any], previous: Mapping[str, Any],
               targets: Mapping[str, tuple[float, float]]) -> Tile:
    """The tile of ``key`` from this period's figures and the previous period's; counts per level or source
    are summed, with the parts kept (alert levels in ``screen.ALERT_LEVELS`` order)."""
    value, before = current.get(key), previous.get(key)
    parts: tuple[tuple[str, int], ...] = ()
    if isinstance(value, Mapping):
        names = screen.ALERT_LEVELS if key == "alerts_firing" else tuple(value)
        parts = tuple((name, int(value.get(name, 0))) for name in names)
        value = sum(value.values())
        before = sum(before.values()) if isinstance(before, Mapping) else None
    delta, trend = tile_change(key, value, before)
    return Tile(key, value, delta, trend, tile_tone(key, trend), tile_state(key, value, targets), parts)


#: Every time column of an incident: the KPI snapshot compares some of them with the moment it is as of.
_TIMES = tuple(c for c in Incident.__table__.columns if isinstance(c.type, UTCDateTime))


def next_moment(session: Session, start: datetime, end: datetime, now: datetime) -> datetime | None:
    """The earliest time later than ``now`` in any time column of the incidents reported in [start, end)
    (None: there is none): until then, the snapshot of that cohort as of the moment cannot change unless
    the incidents do — each of its comparisons "time ≤ now" keeps its answer."""
    row = session.execute(select(*(func.min(case((c > now, c))) for c in _TIMES))
                          .where(Incident.reported_at >= start, Incident.reported_at < end)).one()
    return min((moment for moment in row if moment is not None), default=None)


def current_snapshot(session: Session, now: datetime, periods: TilePeriods,
                     scope: Mapping[str, str]) -> dict[str, Any]:
    """The KPI snapshot of the tiles' cohort as of ``now``: the same figures as ``kpi_snapshot``, read from
    the database only when an incident (or the calendar, an area or a grid) was written since the last
    read (``data.layers.until_changed``: migration 0030's counters) or ``now`` has reached a time of one of
    the cohort's incidents (a deadline passing, ``next_moment``) — otherwise from the last read, with the
    alerts firing read anew (a cheap count, and alerts change far more often than incidents)."""

    def read() -> tuple[dict[str, Any], datetime | None]:
        # both as of ``now``; a write committed between the two moves the counters (read before either)
        until = next_moment(session, periods.start, periods.end, now)
        return kpi_snapshot(session, periods.start, periods.end, now=now, **scope), until

    key = ("tile-snapshot", periods.start, periods.end, tuple(sorted(scope.items())))
    snapshot = dict(until_changed(session, key, now, read))
    snapshot["as_of"] = to_iso(min(periods.end, now))
    snapshot["alerts_firing"] = kpi._alerts_firing(session, kpi._resolve(session, scope))
    return snapshot


def tile_figures(session: Session, now: datetime, periods: TilePeriods, *, area: Mapping[str, str] | None = None,
                 grid_ids: list[int] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures of the tiles now and in the previous period: the KPI cohort against the earlier period (KPI
    snapshots; cards rebuilt for then), today's intake by source against yesterday to the same time, and the
    alerts firing now against this time yesterday. ``area`` is the KPI snapshot's scope (``{"street": code}``,
    …; None = the city) and ``grid_ids`` are its unit grids. The earlier figures move slowly: they are read
    once a minute (``data.layers.per_minute``); the current snapshot when something changed
    (``current_snapshot``)."""
    scope = dict(area or {})
    current = current_snapshot(session, now, periods, scope)
    current["by_source"] = screen.intake_by_source(session, periods.today, now, grid_ids=grid_ids)

    def baseline() -> dict[str, Any]:
        previous = kpi_snapshot(session, periods.before, periods.before_until, now=now, **scope)
        previous.update(screen.cards_at(session, periods.before, periods.before_until, periods.before_until,
                                        grid_ids=grid_ids))
        day = timedelta(days=1)
        previous["by_source"] = screen.intake_by_source(session, periods.today - day, now - day, grid_ids=grid_ids)
        previous["alerts_firing"] = screen.alerts_firing_at(session, now - day, grid_ids=grid_ids)
        return previous

    key = ("tile-baseline", tuple(sorted(scope.items())), tuple(grid_ids) if grid_ids is not None else None)
    return current, dict(per_minute(session, key, now, baseline))
