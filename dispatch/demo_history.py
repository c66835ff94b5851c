"""A plausible past for the demo city: ``days`` days of closed (and a few still open) incidents at
doorplates, so the KPIs, the briefing and its trends look like a running command centre's (the
seeds report ~10,800 cases a year, 99.88 % closed). Deterministic for a given ``seed``; written with
the bulk insert of the history import; codes ``LS<date>-<n>`` never clash with live ``SJ`` codes."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from data.db import Database
from data.models import Category, Doorplate, Incident, IncidentState, utcnow
from dispatch import sla
from dispatch.categories import reportable
from dispatch.history_import import assign_grids, write_rows
from settings import get_settings

S = IncidentState
#: About the seeds' yearly volume (10,822 cases a year).
PER_DAY = 30
#: Where cases come from, with weights (patrol reports and hotline calls dominate).
SOURCE_WEIGHTS = {"patrol": 0.42, "hotline": 0.33, "alert": 0.08, "video": 0.07, "open311": 0.04, "operator": 0.06}
#: Of hotline calls, the share answered directly (the seeds: 25,746 of 33,885).
HOTLINE_DIRECT = 0.76
REJECTED = 0.02
LATE_HANDLING = 0.04
LATE_CLOSING = 0.003
REWORK = 0.03


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


def _case(rng: np.random.Generator, day_start: datetime, category: Category, source: str, now: datetime) -> dict:
    reported = day_start + timedelta(seconds=float(rng.uniform(6 * 3600, 22 * 3600)))
    handle_deadline = reported + timedelta(hours=category.handle_hours)
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
    for key in ("closed_at", "resolved_at", "dispatched_at", "filed_at", "rejected_at"):  # the recent past stays open
        if times[key] is not None and times[key] > now:
            times[key] = None
    state = next((s for k, s in (("closed_at", S.CLOSED), ("rejected_at", S.REJECTED), ("resolved_at", S.RESOLVED),
                                 ("dispatched_at", S.DISPATCHED), ("filed_at", S.FILED)) if times[k] is not None),
                 S.REPORTED)
    card = sla.CARD_NONE
    if state in (S.FILED, S.DISPATCHED, S.RESOLVED):
        card = sla.incident_card(now, reported, handle_deadline, close_deadline, resolved=state == S.RESOLVED)
    return {
        "state": state, "version": 1, "category_code": category.code, "source": source, "title": category.name_zh,
        "department_id": category.department_id, "reported_at": reported, **times,
        "first_resolved_at": times["resolved_at"], "started_at": times["dispatched_at"],
        "handle_deadline": handle_deadline, "close_deadline": close_deadline, "card": card, "escalated": False,
        "rework_count": int(times["resolved_at"] is not None and rng.random() < REWORK), "exercise": False,
        "updated_at": now, "severity": "normal",
    }


def seed_history(db: Database, *, days: int = 365, seed: int = 42, per_day: int = PER_DAY) -> int:
    """Write ``days`` days of past incidents (ending today) at random doorplates; returns how many."""
    rng = np.random.default_rng(seed)
    now = utcnow()
    zone = get_settings().zone
    today = datetime.combine(datetime.now(zone).date(), time(), zone)
    with db.uow() as session:
        if session.scalar(select(func.count()).select_from(Incident).where(Incident.code.like("LS%"))):
            raise DemoHistoryError("the database already holds demo history")
        plates = session.execute(select(Doorplate.lon, Doorplate.lat)).all()
        if not plates:
            raise DemoHistoryError("seed the demo city first: there are no doorplates")
        categories = _categories(session)

        def pool_of(source: str) -> list[Category]:
            return categories["alert" if source == "alert" else "video" if source == "video" else "people"]

        sources = [s for s in SOURCE_WEIGHTS if pool_of(s)]  # a city without video categories has no video cases
        if not sources:
            raise DemoHistoryError("there are no incident categories")
        weights = np.array([SOURCE_WEIGHTS[s] for s in sources])
        rows = []
        for back in range(days, 0, -1):
            day_start = today - timedelta(days=back)
            for n in range(int(rng.poisson(per_day))):
                source = str(rng.choice(sources, p=weights / weights.sum()))
                pool = pool_of(source)
                category = pool[int(rng.integers(len(pool)))]
                lon, lat = plates[int(rng.integers(len(plates)))]
                row = _case(rng, day_start, category, source, now)
                row.update(code=f"LS{day_start:%Y%m%d}-{n + 1:05d}", lon=lon, lat=lat, _row=len(rows) + 1)
                rows.append(row)
        assign_grids(session, rows)
        write_rows(session, rows, now)
    return len(rows)
