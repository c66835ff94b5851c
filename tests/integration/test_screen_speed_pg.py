"""The big screen's change counters on the real PostgreSQL 15 (migration 0030, issue 21): deferred triggers bump
a counter once per committed transaction that writes incidents, never for a rolled-back one, and the kept KPI
snapshot of the tiles is the raw one after every write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from callbacks.bigscreen.periods import tile_periods
from data.demo import seed_demo_city
from data.layers import change_counters, grid_metrics
from data.models import Category, Grid, Incident, utcnow
from dispatch import screen_tiles
from dispatch.kpi import kpi_snapshot


@pytest.fixture
def city(pg_db):
    seed_demo_city(pg_db, scale=0.02, seed=7, demo_passwords=False)
    return pg_db


def _counters(db) -> dict[str, int]:
    with db.uow() as s:
        return dict(change_counters(s))


def _incidents(db, count: int) -> list[int]:
    now = utcnow()
    with db.uow() as s:
        grid = s.scalar(select(Grid.id).order_by(Grid.id).limit(1))
        category = s.scalar(select(Category.code).limit(1))
        rows = [Incident(code=f"PG-{i}", state="filed", category_code=category, source="patrol", title="t",
                         grid_id=grid, reported_at=now - timedelta(minutes=5), filed_at=now - timedelta(minutes=4),
                         close_deadline=now + timedelta(minutes=10)) for i in range(count)]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


def test_a_committed_write_bumps_the_counter_once_and_a_rolled_back_one_never(city):
    before = _counters(city)
    ids = _incidents(city, 3)
    after_insert = _counters(city)
    assert after_insert["writes"] == before["writes"] + 1  # one transaction of three rows
    with city.uow() as s:
        for ident in ids:
            s.execute(update(Incident).where(Incident.id == ident).values(card="red"))
    assert _counters(city)["writes"] == after_insert["writes"] + 1
    with city.engine.connect() as conn:  # written, then rolled back: nothing happened
        conn.execute(update(Incident.__table__).where(Incident.id == ids[0]).values(card="none"))
        conn.rollback()
    assert _counters(city)["writes"] == after_insert["writes"] + 1


def test_the_kept_snapshot_and_grid_counts_follow_every_write(city):
    now = utcnow()
    periods = tile_periods(now)
    with city.uow() as s:
        first = screen_tiles.current_snapshot(s, now, periods, {})
        cards = sum(grid_metrics(s, now)["cards"].values())
    ids = _incidents(city, 2)
    for minutes, change in ((1, None), (2, "red"), (11, None)):  # the deadline passes at 10 minutes
        at = now + timedelta(minutes=minutes)
        if change:
            with city.uow() as s:
                s.execute(update(Incident).where(Incident.id == ids[0]).values(card=change))
        with city.uow() as s:
            kept = screen_tiles.current_snapshot(s, at, periods, {})
            assert kept == kpi_snapshot(s, periods.start, periods.end, now=at)
            assert sum(grid_metrics(s, at)["cards"].values()) == cards + (1 if minutes >= 2 else 0)
    assert kept["open"] == first["open"] + 2 and kept["red_cards"] == first["red_cards"] + 1
    assert kept["due"] >= first["due"] + 2  # both past their closing deadline at 11 minutes
