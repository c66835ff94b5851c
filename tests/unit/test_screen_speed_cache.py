"""The big screen's refresh at province scale (issue 21): the open incidents are read through partial covering
indexes, and the KPI snapshot and the grids' open counts are read again only when the change counters of
migration 0030 move or the time reaches one of the cohort's times — and then a change shows at the next
refresh, whoever wrote it."""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from pathlib import Path

import pytest
from dash import Patch
from flask import Flask
from sqlalchemy import delete, event, select, update

from callbacks.bigscreen import live
from callbacks.bigscreen.periods import tile_periods
from data.layers import MAP_OPEN_STATES, change_counters, grid_metrics, live_incidents
from data.models import Category, Grid, Incident, utcnow
from dispatch import screen_tiles
from dispatch.kpi import kpi_snapshot
from dispatch.working_hours import set_day
from tests.unit.city_copies import city_copy, seeded_template
from tests.unit.test_bigscreen import DIGEST, FIGURE, refresh, tile_of

MIGRATION = Path(__file__).resolve().parents[2] / "data/migrations/versions/0030_screen_counters.py"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("screen_speed"), seed=5)


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def app_context(city):
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def _add_incident(db, code: str, *, state: str = "filed", minutes_ago: int = 5, close_in: int = 600) -> int:
    """An incident reported ``minutes_ago`` in the first grid, placed, with a closing deadline ``close_in``
    minutes from now; written straight into the table, as an import would."""
    now = utcnow()
    reported = now - timedelta(minutes=minutes_ago)
    with db.uow() as s:
        grid = s.scalar(select(Grid).order_by(Grid.id).limit(1))
        incident = Incident(code=code, state=state, category_code=s.scalar(select(Category.code).limit(1)),
                            source="patrol", title=code, grid_id=grid.id, lon=(grid.minx + grid.maxx) / 2,
                            lat=(grid.miny + grid.maxy) / 2, reported_at=reported,
                            filed_at=reported + timedelta(minutes=1) if state != "reported" else None,
                            handle_deadline=now + timedelta(minutes=close_in // 2),
                            close_deadline=now + timedelta(minutes=close_in))
        s.add(incident)
        s.flush()
        return incident.id


def test_the_partial_indexes_hold_the_states_the_map_shows():
    spec = importlib.util.spec_from_file_location("screen_counters_0030", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.OPEN_STATES == MAP_OPEN_STATES  # the same literal list, in the same order


def test_the_open_incidents_are_read_through_the_partial_indexes(city):
    _add_incident(city, "SPEED-1")
    statements = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    event.listen(city.engine, "before_cursor_execute", seen)
    try:
        with city.uow() as s:
            assert [i.code for i in live_incidents(s, limit=20)] == ["SPEED-1"]
            assert sum(grid_metrics(s)["open"].values()) == 1
    finally:
        event.remove(city.engine, "before_cursor_execute", seen)
    reads = [(sql, args) for sql, args in statements if "FROM incidents" in sql and "screen_counters" not in sql
             and "reported_at >=" not in sql]  # the 30-day workload reads the reported_at index
    assert len(reads) == 2
    with city.engine.connect() as conn:
        for sql, args in reads:
            plan = " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, args))
            assert "ix_incidents_open_" in plan, (sql, plan)


def test_every_write_to_a_counted_table_moves_the_counters(city):
    def counters() -> dict[str, int]:
        with city.uow() as s:
            return dict(change_counters(s))

    before = counters()
    assert before["epoch"] != 0  # a random number per migrated database
    incident = _add_incident(city, "SPEED-2")
    after_insert = counters()
    assert after_insert["writes"] > before["writes"]
    with city.uow() as s:  # as the card sweep writes: neither version nor updated_at changes
        s.execute(update(Incident).where(Incident.id == incident).values(card="red"))
    after_update = counters()
    assert after_update["writes"] > after_insert["writes"]
    with city.uow() as s:
        s.execute(delete(Incident).where(Incident.id == incident))
    assert counters()["writes"] > after_update["writes"]
    writes = counters()["writes"]
    with city.uow() as s:
        set_day(s, date(2030, 1, 2), workday=False, name="holiday")
    assert counters()["writes"] > writes


def test_a_change_shows_at_the_next_refresh_and_nothing_is_read_again_without_one(app_context, monkeypatch):
    calls = []
    real = screen_tiles.kpi_snapshot
    monkeypatch.setattr(screen_tiles, "kpi_snapshot", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = refresh([1])
    assert tile_of(first, "open")["value"] == "0"
    read = len(calls)
    again = refresh([1], digest=first[DIGEST], n=2)
    assert len(calls) == read  # unchanged: the snapshot was not read again
    assert all(value is live.no_update for value in again[1])
    incident = _add_incident(app_context, "SPEED-3")
    third = refresh([1], digest=first[DIGEST], n=3)
    assert len(calls) == read + 1
    assert tile_of(third, "open")["value"] == "1"
    assert isinstance(third[FIGURE], Patch)  # the grid's open count moved on the map
    with app_context.uow() as s:  # the card sweep's write (no version, no updated_at): still seen
        s.execute(update(Incident).where(Incident.id == incident).values(card="red"))
    fourth = refresh([1], digest=third[DIGEST], n=4)
    assert tile_of(fourth, "red_cards")["value"] == "1"


def test_the_kept_snapshot_follows_the_clock_past_a_deadline(city):
    """Between writes the snapshot changes only when the time passes one of the cohort's times: each later
    moment gives what the raw snapshot gives then (here a closing deadline makes the incident due)."""
    _add_incident(city, "SPEED-4", close_in=10)
    _add_incident(city, "SPEED-5", state="reported", close_in=30)
    now = utcnow()
    periods = tile_periods(now)
    seen_due = set()
    for minutes in (0, 2, 9, 10, 11, 29, 31, 12):  # the last one earlier again: never served a later read
        at = now + timedelta(minutes=minutes)
        with city.uow() as s:
            kept = screen_tiles.current_snapshot(s, at, periods, {})
            raw = kpi_snapshot(s, periods.start, periods.end, now=at)
        assert kept == raw, minutes
        seen_due.add(kept["due"])
    assert seen_due == {0, 1}
