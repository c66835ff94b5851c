"""The hotline figures and follow-up calls on the real PostgreSQL 15: the hand-computed month of
tests/unit/test_hotline_figures.py gives the same figures (the repeat-call window is an ``interval``
there, ``datetime(…, '-30 days')`` on SQLite), and a "basically satisfied" follow-up fits its column
(``basically_satisfied`` has 19 characters; the rating was a varchar(16) before migration 0017)."""

from __future__ import annotations

from sqlalchemy import select

from data.models import Doorplate, Incident
from dispatch.hotline import FollowupResult, HotlineCall, list_followups, record_followup, take_call
from dispatch.kpi import kpi_snapshot
from dispatch.service import apply_action
from tests.unit.test_dispatch_service import G1_POINT, make_city
from tests.unit.test_hotline_figures import END, NOW, START, seed_month


def test_the_hand_computed_month_on_postgresql(pg_db):
    with pg_db.uow() as s:
        seed_month(s)
    with pg_db.uow() as s:
        hotline = kpi_snapshot(s, START, END, now=NOW)["hotline"]
    assert hotline == {"orders": 5, "direct": 1, "transferred": 4, "direct_rate": 0.2, "satisfaction_rate": 0.6667,
                       "mean_handle_workdays": 1.98, "on_time_reply_rate": 0.6, "repeat_calls": 2}


def test_a_basically_satisfied_follow_up_is_stored_on_postgresql(pg_db):
    with pg_db.uow() as s:
        city = make_city(s)
        s.add(Doorplate(code="DP-1", address="和平路 1 号", lon=G1_POINT[0], lat=G1_POINT[1]))
        s.flush()
        incident = take_call(s, HotlineCall(caller="钱", phone="13512345678", content="垃圾", category="S0101",
                                            doorplate="DP-1"), actor=city.operator)
        for action in ("start", "resolve", "close"):
            incident = apply_action(s, incident.id, action, version=incident.version, actor=city.admin)
        record_followup(s, incident.code, FollowupResult(reached=True, satisfaction="basically_satisfied"),
                        actor=city.operator)
    with pg_db.uow() as s:
        assert s.scalar(select(Incident.satisfaction)) == "basically_satisfied"
        assert [f.satisfaction for f in list_followups(s, state="done")] == ["basically_satisfied"]
