"""The KPI snapshot of DESIGN §7 against hand-built cohorts, including the seeds' own figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert

from data.models import Alert, Incident, Sensor
from dispatch.kpi import UnknownFilter, kpi_snapshot
from dispatch.workflow import SOURCES
from tests.unit.test_dispatch_service import make_city

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 5, tzinfo=UTC)
H = timedelta(hours=1)

CONTRACT_KEYS = {
    "reported", "filed", "filing_rate", "dispatched", "handled", "handled_on_time", "handling_rate",
    "closed", "closed_on_time", "closure_rate", "on_time_closure_rate", "due", "std_closure_rate",
    "std_on_time_closure_rate", "rework_rate", "open", "yellow_cards", "red_cards", "mean_handle_hours",
    "alerts_firing", "by_source",
}


def _row(n: int, *, reported: datetime = START + H, **fields) -> dict:
    """One incident row for a bulk insert; lifecycle stamps default to 'never happened'."""
    row = {
        "code": f"T{n:07d}", "state": "reported", "version": 1, "category_code": "S0101", "source": "patrol",
        "title": "t", "reported_at": reported, "card": "none", "rework_count": 0, "exercise": False,
        "escalated": False, "updated_at": reported,
    }
    row.update(fields)
    return row


def _closed(n: int, *, on_time: bool = True, **fields) -> dict:
    t = START + H
    return _row(
        n, state="closed", filed_at=t, dispatched_at=t + H, first_resolved_at=t + 3 * H,
        resolved_at=t + 3 * H,
        closed_at=t + 4 * H, handle_deadline=t + 24 * H, close_deadline=t + (48 if on_time else 2) * H,
        **fields,
    )


def _bulk(session, rows: list[dict]) -> None:
    session.execute(insert(Incident), rows)


@pytest.fixture
def city(session):
    return make_city(session)


def test_the_seeds_closure_rate_10809_of_10822(session, city):
    rows = [_closed(i) for i in range(10_809)]
    rows += [_row(10_809 + i, state="dispatched", filed_at=START + H, dispatched_at=START + 2 * H)
             for i in range(13)]
    _bulk(session, rows)
    queries = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: queries.append(a[2]))
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert (kpi["reported"], kpi["filed"], kpi["closed"]) == (10_822, 10_822, 10_809)
    assert kpi["closure_rate"] == 0.9988
    assert kpi["filing_rate"] == 1.0
    assert kpi["open"] == 13
    assert len(queries) <= 3  # aggregates in SQL, not a Python loop over rows


def test_the_seeds_on_time_closure_rate_2127_of_2132(session, city):
    _bulk(session, [_closed(i, on_time=i >= 5) for i in range(2_132)])
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert (kpi["closed"], kpi["closed_on_time"]) == (2_132, 2_127)
    assert kpi["on_time_closure_rate"] == 0.9977


def test_every_contract_key_is_present_and_rates_are_null_on_an_empty_cohort(session, city):
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert kpi.keys() >= CONTRACT_KEYS
    assert kpi["reported"] == 0
    for key in ("filing_rate", "handling_rate", "closure_rate", "on_time_closure_rate", "std_closure_rate",
                "std_on_time_closure_rate", "rework_rate", "mean_handle_hours"):
        assert kpi[key] is None, key
    assert kpi["by_source"] == dict.fromkeys(SOURCES, 0)
    assert kpi["alerts_firing"] == {"red": 0, "orange": 0, "yellow": 0, "blue": 0}


def test_definitions_on_a_small_mixed_cohort(session, city):
    t = START + H
    _bulk(session, [
        _row(1),  # reported, never filed
        _row(2, state="filed", filed_at=t, close_deadline=t + 2 * H, source="hotline"),  # open, overdue
        _row(3, state="dispatched", filed_at=t, dispatched_at=t + H, close_deadline=END + 10 * H,
             source="alert"),  # open, not yet due
        _row(4, state="resolved", filed_at=t, dispatched_at=t + H, first_resolved_at=t + 3 * H,
             resolved_at=t + 9 * H, handle_deadline=t + 2 * H, close_deadline=END + 10 * H, rework_count=1,
             card="yellow"),  # handled late, reworked, open
        _closed(5),  # dispatched→first resolved: 2 h
        _closed(6, on_time=False, source="video"),
        _row(7, state="rejected", rejected_at=t),
        _closed(8, exercise=True),  # exercises never count
        _closed(9, reported=END),  # next period
        _closed(10, reported=START - H),  # previous period
    ])
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert kpi["reported"] == 7
    assert (kpi["filed"], kpi["dispatched"], kpi["handled"], kpi["handled_on_time"]) == (5, 4, 3, 2)
    assert (kpi["closed"], kpi["closed_on_time"], kpi["open"]) == (2, 1, 3)
    assert kpi["due"] == 3  # two closed + the overdue filed one
    assert kpi["filing_rate"] == round(5 / 7, 4)
    assert kpi["handling_rate"] == 0.75
    assert kpi["closure_rate"] == 0.4
    assert kpi["on_time_closure_rate"] == 0.5
    assert kpi["std_closure_rate"] == round(2 / 3, 4)
    assert kpi["std_on_time_closure_rate"] == round(1 / 3, 4)
    assert kpi["rework_rate"] == round(1 / 3, 4)
    assert kpi["yellow_cards"] == 1 and kpi["red_cards"] == 0
    assert kpi["mean_handle_hours"] == 2.0
    assert kpi["by_source"] == {"alert": 1, "patrol": 4, "hotline": 1, "open311": 0, "video": 1,
                                "operator": 0}


def test_events_after_the_cut_off_do_not_count(session, city):
    t = START + H
    _bulk(session, [_closed(1), _row(2, state="closed", filed_at=t, closed_at=NOW + H)])
    # as of now: the second one is filed but its closing has not happened yet
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert (kpi["filed"], kpi["closed"], kpi["open"]) == (2, 1, 1)
    # as of the end of a period that ended before the closing
    early = kpi_snapshot(session, START, t + 2 * H, now=NOW)
    assert (early["filed"], early["closed"]) == (2, 0)


def test_district_and_department_filters(session, city):
    _bulk(session, [
        _closed(1, grid_id=city.g1.id, department_id=city.roads.id),
        _closed(2, grid_id=None, department_id=city.gas.id),
    ])
    assert kpi_snapshot(session, START, END, now=NOW, district="D1")["reported"] == 1
    assert kpi_snapshot(session, START, END, now=NOW, department="gas")["reported"] == 1
    assert kpi_snapshot(session, START, END, now=NOW, district="D1", department="gas")["reported"] == 0
    with pytest.raises(UnknownFilter):
        kpi_snapshot(session, START, END, now=NOW, district="Atlantis")
    with pytest.raises(UnknownFilter):
        kpi_snapshot(session, START, END, now=NOW, department="nope")


def test_alerts_firing_counts_live_non_exercise_alerts_by_level(session, city):
    session.add(Sensor(id="s1", kind="gas_pressure", family="lifeline", name="s1", unit="MPa",
                       lon=117.005, lat=36.605, grid_id=city.g1.id))
    session.flush()
    for level, state, exercise in [("red", "firing", False), ("red", "firing", False),
                                   ("blue", "firing", False), ("orange", "resolved", False),
                                   ("yellow", "pending", False), ("yellow", "firing", True)]:
        session.add(Alert(rule_id="r", sensor_id="s1", state=state, level=level, started_at=START,
                          exercise=exercise))
    session.flush()
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert kpi["alerts_firing"] == {"red": 2, "orange": 0, "yellow": 0, "blue": 1}


def test_a_period_must_be_aware_and_ordered(session, city):
    with pytest.raises(ValueError):
        kpi_snapshot(session, END, START, now=NOW)
    with pytest.raises(ValueError):
        kpi_snapshot(session, START.replace(tzinfo=None), END, now=NOW)
