"""A plausible past for the demo city: ``days`` days of incidents at doorplates ending now, so the KPIs,
the briefing and its trends look like a running command centre's from the first start (DESIGN §3
``seed --history-days``). The proportions follow the seeds: ~10,800 cases a year, 99.88 % of the filed
ones closed and 99.77 % of those on time, every source of the loop, and a handful still open now, some
carrying red and some yellow cards. Deterministic for a given ``seed``; written with the bulk insert of
the history import; codes ``LS<local date>-<n>`` never clash with live ``SJ`` codes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from data.db import Database
from data.demo import seed_demo_city
from data.models import Category, Doorplate, Incident, utcnow
from dispatch import sla
from dispatch.categories import reportable
from dispatch.history_import import assign_grids, state_and_card, write_rows
from dispatch.workflow import SOURCES
from settings import get_settings

#: ``seed --history-days`` and the first start: a year of history.
DEFAULT_DAYS = 365
#: About the seeds' yearly volume (10,822 cases a year).
PER_DAY = 30
#: Where cases come from, with weights (patrol reports and hotline calls dominate). A source the
#: workflow does not know (yet) is left out.
SOURCE_WEIGHTS = {"patrol": 0.40, "hotline": 0.32, "alert": 0.08, "video": 0.07, "open311": 0.04,
                  "operator": 0.05, "citizen": 0.04}
#: Of hotline calls, the share answered directly (the seeds: 25,746 of 33,885).
HOTLINE_DIRECT = 0.76
REJECTED = 0.02
LATE_HANDLING = 0.04
LATE_CLOSING = 0.002
REWORK = 0.03
#: Filed cases still open now (the seeds: 13 of 10,822 filed cases not closed); at least one carries a
#: red card and one a yellow card, whatever the length of the history.
OPEN_SHARE = 0.0012
MIN_OPEN = 2


class DemoHistoryError(RuntimeError):
    """The database has no city (no doorplates) or already holds demo history."""


def _categories(session: Any) -> dict[str, list[Category]]:
    by_source: dict[str, list[Category]] = {"people": [], "alert": [], "video": []}
    for category in session.scalars(select(Category).order_by(Category.code)):
        if reportable(category.code):
            by_source["people"].append(category)
        elif category.code.startswith("V"):
            by_source["video"].append(category)
        else:
            by_source["alert"].append(category)
    return by_source


def _finish_before(times: dict[str, datetime | None], reported: datetime, now: datetime,
                   rng: np.random.Generator) -> None:
    """A case whose loop would run past ``now`` went faster: its steps are squeezed into the time since
    it was reported, so only the deliberately open cases are open (the seeds' closure rate)."""
    last = max(t for t in times.values() if t is not None)
    if last <= now:
        return
    factor = float(rng.uniform(0.3, 0.95)) * (now - reported) / (last - reported)
    for key, moment in times.items():
        if moment is not None:
            times[key] = reported + (moment - reported) * factor


def _row(category: Category, source: str, reported: datetime, times: dict[str, datetime | None], now: datetime,
         *, rework: bool) -> dict[str, Any]:
    handle_deadline = reported + timedelta(hours=category.handle_hours)
    close_deadline = reported + timedelta(hours=category.close_hours)
    state, card = state_and_card({**times, "reported_at": reported}, handle_deadline, close_deadline, now)
    hotline_mode = None
    if source == "hotline" and times["filed_at"] is not None:
        hotline_mode = "transfer" if times["dispatched_at"] is not None else "direct"
    return {
        "state": state, "version": 1, "category_code": category.code, "source": source, "title": category.name_zh,
        "department_id": category.department_id, "reported_at": reported, **times,
        "first_resolved_at": times["resolved_at"], "started_at": times["dispatched_at"],
        "handle_deadline": handle_deadline, "close_deadline": close_deadline, "card": card, "escalated": False,
        "rework_count": int(rework and times["resolved_at"] is not None), "exercise": False,
        "updated_at": now, "severity": "normal", "hotline_mode": hotline_mode,
    }


def _closed_case(rng: np.random.Generator, hours: tuple[datetime, datetime], category: Category, source: str,
                 now: datetime) -> dict[str, Any]:
    """A case reported within ``hours`` that ran its course: rejected, answered directly (hotline) or closed."""
    reported = hours[0] + (hours[1] - hours[0]) * float(rng.uniform())
    close_deadline = reported + timedelta(hours=category.close_hours)
    times: dict[str, datetime | None] = dict.fromkeys(
        ("filed_at", "rejected_at", "dispatched_at", "resolved_at", "closed_at"))
    if rng.random() < REJECTED:
        times["rejected_at"] = reported + timedelta(minutes=float(rng.uniform(5, 60)))
    elif source == "hotline" and rng.random() < HOTLINE_DIRECT:
        times["filed_at"] = reported + timedelta(minutes=float(rng.uniform(1, 8)))
        times["closed_at"] = times["filed_at"]
    else:
        times["filed_at"] = reported + timedelta(minutes=float(rng.uniform(3, 45)))
        times["dispatched_at"] = times["filed_at"] + timedelta(minutes=float(rng.uniform(5, 60)))
        limit = category.handle_hours * 3600
        took = rng.uniform(1.05, 1.6) * limit if rng.random() < LATE_HANDLING else rng.uniform(0.1, 0.85) * limit
        times["resolved_at"] = times["dispatched_at"] + timedelta(seconds=float(took))
        slack = (close_deadline - times["resolved_at"]).total_seconds()
        late = rng.random() < LATE_CLOSING or slack <= 600
        wait = rng.uniform(1.05, 1.5) * max(slack, 3600) if late else rng.uniform(0.05, 0.6) * slack
        times["closed_at"] = times["resolved_at"] + timedelta(seconds=float(wait))
    _finish_before(times, reported, now, rng)
    return _row(category, source, reported, times, now, rework=bool(rng.random() < REWORK))


def _open_case(rng: np.random.Generator, card: str, category: Category, source: str, now: datetime,
               earliest: datetime) -> dict[str, Any]:
    """A case still in the loop now: past its handling deadline (red), in its last fifth (yellow) or
    well within it (no card)."""
    limit = timedelta(hours=category.handle_hours)
    # the share of the handling limit gone by now: over 1 (red), in its last fifth (yellow), under half
    low, high = {sla.CARD_RED: (1.1, 1.8), sla.CARD_YELLOW: (0.85, 0.95)}.get(card, (0.1, 0.5))
    reported = max(now - limit * float(rng.uniform(low, high)), earliest)
    filed = reported + (now - reported) * float(rng.uniform(0.01, 0.05))
    dispatched = filed + (now - filed) * float(rng.uniform(0.01, 0.05))
    times: dict[str, datetime | None] = {"filed_at": filed, "rejected_at": None, "dispatched_at": dispatched,
                                         "resolved_at": None, "closed_at": None}
    return _row(category, source, reported, times, now, rework=False)


def _number(rows: list[dict[str, Any]], zone: Any) -> None:
    """Codes ``LS<local date>-<n>`` numbered by report time within each local day."""
    per_day: dict[str, int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: r["reported_at"]):
        day = f"{row['reported_at'].astimezone(zone):%Y%m%d}"
        per_day[day] += 1
        row["code"] = f"LS{day}-{per_day[day]:05d}"


def seed_history(db: Database, *, days: int = DEFAULT_DAYS, seed: int = 42, per_day: int = PER_DAY,
                 now: datetime | None = None) -> int:
    """Write the incidents of ``days`` local days, today up to ``now`` (default: the current time) the
    last of them, at random doorplates; returns how many. The same seed and ``now`` give the same
    history."""
    rng = np.random.default_rng(seed)
    now = now or utcnow()
    zone = get_settings().zone
    today = datetime.combine(now.astimezone(zone).date(), time(), zone)
    with db.uow() as session:
        if session.scalar(select(func.count()).select_from(Incident).where(Incident.code.like("LS%"))):
            raise DemoHistoryError("the database already holds demo history")
        plates = session.execute(select(Doorplate.lon, Doorplate.lat).order_by(Doorplate.id)).all()
        if not plates:
            raise DemoHistoryError("seed the demo city first: there are no doorplates")
        categories = _categories(session)

        def pool_of(source: str) -> list[Category]:
            return categories["alert" if source == "alert" else "video" if source == "video" else "people"]

        # a city without video categories has no video cases
        sources = [s for s in SOURCE_WEIGHTS if s in SOURCES and pool_of(s)]
        if not sources:
            raise DemoHistoryError("there are no incident categories")
        weights = np.array([SOURCE_WEIGHTS[s] for s in sources])
        weights /= weights.sum()

        def pick() -> tuple[Category, str]:
            source = str(rng.choice(sources, p=weights))
            pool = pool_of(source)
            return pool[int(rng.integers(len(pool)))], source

        rows = []
        for back in range(days - 1, -1, -1):  # today, up to now, is the last of the days
            day_start = today - timedelta(days=back)
            # people report from 06:00 to 22:00; today only until a few minutes ago
            hours = (day_start + timedelta(hours=6), min(day_start + timedelta(hours=22), now - timedelta(minutes=5)))
            if hours[1] <= hours[0]:
                continue
            volume = per_day * (hours[1] - hours[0]) / timedelta(hours=16)
            for _ in range(int(rng.poisson(volume))):
                category, source = pick()
                rows.append(_closed_case(rng, hours, category, source, now))
        filed = sum(r["filed_at"] is not None for r in rows)
        if days:
            cards = (sla.CARD_RED, sla.CARD_YELLOW, sla.CARD_NONE)
            earliest = today - timedelta(days=days - 1)
            for n in range(max(MIN_OPEN, round(OPEN_SHARE * filed))):
                category, source = pick()
                rows.append(_open_case(rng, cards[n % len(cards)], category, source, now, earliest))
        for row in rows:
            lon, lat = plates[int(rng.integers(len(plates)))]
            row.update(lon=lon, lat=lat)
        _number(rows, zone)
        for n, row in enumerate(rows, start=1):
            row["_row"] = n
        assign_grids(session, rows)
        write_rows(session, rows, now)
    return len(rows)


def seed_demo(db: Database, *, scale: float = 1.0, seed: int = 42, reset: bool = False, demo_passwords: bool = True,
              history_days: int = DEFAULT_DAYS, now: datetime | None = None) -> dict[str, int]:
    """The demo city (``data.demo.seed_demo_city``) and ``history_days`` days of its history, as the ``seed``
    command and the first start write them; returns the row count of each table filled."""
    counts = seed_demo_city(db, scale=scale, seed=seed, reset=reset, demo_passwords=demo_passwords)
    counts["incidents"] = seed_history(db, days=history_days, seed=seed, now=now) if history_days > 0 else 0
    return counts
