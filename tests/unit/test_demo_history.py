"""The demo city's history (issue 13.3, DESIGN §3 ``seed --history-days``): ``python app.py seed`` writes the
incidents of the last N days with the seeds' proportions, none with 0, and the same seed gives the same past."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import dispatch.demo_history as demo_history
from data.db import Database
from data.models import Incident, IncidentState
from dispatch.demo_history import DEFAULT_DAYS, seed_demo
from dispatch.kpi import kpi_snapshot
from dispatch.sla import CARD_RED, CARD_YELLOW
from dispatch.workflow import OPEN_STATES, SOURCES
from settings import get_settings

ZONE = get_settings().zone
SCALE = "0.02"


def _cli(monkeypatch, url: str, *args: str) -> str:
    """``python app.py ARGS`` on the database at ``url``, in this process, CITYOPS_DEMO unset (as in
    production: no demo passwords, and ``serve`` seeds an empty database); returns what it printed."""
    from app import cli

    monkeypatch.setenv("CITYOPS_DATABASE_URL", url)
    monkeypatch.delenv("CITYOPS_DEMO", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _seed_cli(monkeypatch, url: str, *args: str) -> str:
    return _cli(monkeypatch, url, "seed", "--scale", SCALE, "--seed", "7", *args)


def _midnight(days_ago: int) -> datetime:
    return datetime.combine(datetime.now(ZONE).date(), time(), ZONE) - timedelta(days=days_ago)


def test_seed_writes_a_month_of_history_with_the_seeds_proportions(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'month.db'}"
    printed = dict(line.split("\t") for line in _seed_cli(monkeypatch, url, "--history-days", "30").splitlines())
    db = Database(url)
    try:
        with db.uow() as s:
            kpi = kpi_snapshot(s, _midnight(29), datetime.now(ZONE) + timedelta(seconds=1))
            before = kpi_snapshot(s, _midnight(400), _midnight(29))
            total = s.scalar(select(func.count()).select_from(Incident))
    finally:
        db.dispose()
    assert int(printed["incidents"]) == total == kpi["reported"] > 600  # ~30 a day, all within the 30 days
    assert before["reported"] == 0
    # the seeds: 10,809 of 10,822 filed cases closed (0.9988), 2,127 of 2,132 closed on time (0.9977)
    assert kpi["closure_rate"] == pytest.approx(0.999, abs=0.003)
    assert kpi["on_time_closure_rate"] == pytest.approx(0.998, abs=0.004)
    assert kpi["filed"] < kpi["reported"]  # a few were not filed (不予立案)
    assert all(kpi["by_source"][source] > 0 for source in SOURCES), kpi["by_source"]
    assert kpi["red_cards"] >= 1 and kpi["yellow_cards"] >= 1 and kpi["open"] >= 2


def test_seed_with_history_days_0_writes_no_incidents(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    printed = _seed_cli(monkeypatch, url, "--history-days", "0")
    assert "incidents\t0" in printed.splitlines()
    db = Database(url)
    try:
        with db.uow() as s:
            assert s.scalar(select(func.count()).select_from(Incident)) == 0
    finally:
        db.dispose()


def _history(folder: Path, name: str, seed: int, now: datetime) -> list[tuple]:
    db = Database(f"sqlite:///{folder / name}")
    db.migrate()
    try:
        seed_demo(db, scale=float(SCALE), seed=seed, demo_passwords=False, history_days=12, now=now)
        with db.uow() as s:
            return [tuple(row) for row in s.execute(select(
                Incident.code, Incident.category_code, Incident.source, Incident.state, Incident.card,
                Incident.lon, Incident.lat, Incident.grid_id, Incident.department_id, Incident.rework_count,
                Incident.reported_at, Incident.filed_at, Incident.dispatched_at, Incident.resolved_at,
                Incident.closed_at, Incident.close_deadline).order_by(Incident.code))]
    finally:
        db.dispose()


def test_the_same_seed_gives_the_same_history_and_another_seed_another(tmp_path):
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    first = _history(tmp_path, "a.db", 5, now)
    assert len(first) > 200
    assert _history(tmp_path, "b.db", 5, now) == first
    assert _history(tmp_path, "c.db", 6, now) != first


def test_history_is_closed_but_for_a_few_open_cases_carrying_cards(tmp_path):
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    rows = _history(tmp_path, "h.db", 5, now)
    open_rows = [r for r in rows if r[3] in OPEN_STATES]
    assert 2 <= len(open_rows) <= 5
    assert {CARD_RED, CARD_YELLOW} <= {r[4] for r in open_rows}
    assert all(r[3] in (IncidentState.CLOSED, IncidentState.REJECTED) for r in rows if r not in open_rows)
    assert all(moment <= now for r in rows for moment in r[10:15] if moment is not None)  # nothing in the future


def test_the_first_start_seeds_the_city_with_a_year_of_history(tmp_path, monkeypatch):
    """``serve`` on an empty database asks for DEFAULT_DAYS (365) of history; here a small city and three
    days of it are written in its place, and the server itself is not started."""
    import waitress

    asked = {}

    def small_demo(db, **options):
        asked.update(options)
        return seed_demo(db, **{**options, "scale": float(SCALE), "history_days": 3})

    monkeypatch.setattr(demo_history, "seed_demo", small_demo)
    monkeypatch.setattr(waitress, "serve", lambda *args, **kwargs: None)
    monkeypatch.setenv("CITYOPS_SECRET_KEY", "test-key")
    url = f"sqlite:///{tmp_path / 'first.db'}"
    _cli(monkeypatch, url, "serve", "--port", "0", "--no-scheduler")
    assert asked["history_days"] == DEFAULT_DAYS == 365
    db = Database(url)
    try:
        with db.uow() as s:
            assert s.scalar(select(func.count()).select_from(Incident).where(Incident.code.like("LS%"))) > 50
    finally:
        db.dispose()
