"""The KPI engine of DESIGN §7 against hand-built cohorts, including the seeds' own figures: snapshots,
scopes, grouped snapshots and the previous period."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from sqlalchemy import event, insert, update

from data.models import Alert, Area, Department, Incident, Sensor
from dispatch.kpi import GROUPS, SCOPES, UnknownFilter, kpi_by, kpi_compare, kpi_snapshot, previous_period
from dispatch.workflow import SOURCES
from tests.unit.test_dispatch_service import City, _area, _grid, make_city

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
    assert len(queries) <= 4  # aggregates in SQL, not a Python loop over rows (+ the daily rollups' lookup)


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
                                "operator": 0, "citizen": 0}


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


# --- scopes, grouped snapshots, previous period (issue 6) ----------------------------------------

#: Grid code → (community, street, district) of the scoped city below.
PLACES = {
    "G1": ("D1S1C1", "D1S1", "D1"), "G2": ("D1S1C1", "D1S1", "D1"), "G3": ("D2S1C1", "D2S1", "D2"),
    "G4": ("D2S2C1", "D2S2", "D2"), "G5": ("D2S2C2", "D2S2", "D2"),
}
#: ``hotline`` is a snapshot's own, like ``alerts_firing`` (tests/unit/test_hotline_figures.py checks it).
META_KEYS = {"from", "to", "as_of", "alerts_firing", "hotline", "code", "name", *SCOPES}


def scoped_city(session) -> tuple[City, dict[str, int]]:
    """The small dispatch city plus a second district (two streets, three communities, three grids), a
    department with no incidents, and readable names; returns it and the grid ids by code."""
    city = make_city(session)
    whole = shapely.box(117.02, 36.6, 117.05, 36.61)
    d2 = _area(session, "D2", "district", None, whole)
    grids = {"G1": city.g1.id, "G2": city.g2.id}
    for street, communities in (("D2S1", ("D2S1C1",)), ("D2S2", ("D2S2C1", "D2S2C2"))):
        street_area = _area(session, street, "street", d2, whole)
        for community in communities:
            community_area = _area(session, community, "community", street_area, whole)
            code = next(g for g, place in PLACES.items() if place[0] == community)
            grids[code] = _grid(session, code, community_area, whole).id
    d2.name = "东城区"
    session.add(Department(code="water", name_zh="水务", name_en="Water"))
    session.flush()
    return city, grids


def scoped_rows(city: City, grids: dict[str, int], n: int = 120) -> list[dict]:
    """``n`` incidents spread at random (seeded) over grids (and none), departments, categories, sources
    and lifecycles; a tenth are exercises, some fall before or after the period."""
    rng = random.Random(6)
    rows = []
    for i in range(n):
        grid = rng.choice([*grids, None])
        reported = START + timedelta(hours=rng.uniform(-24 * 20, 24 * 33))  # some outside [START, END)
        fields = {"grid_id": grids[grid] if grid else None, "department_id": rng.choice([city.gas, city.roads]).id,
                  "category_code": rng.choice(["L01", "S0101"]), "source": rng.choice(SOURCES),
                  "exercise": rng.random() < 0.1, "reported_at": reported, "updated_at": reported,
                  "rework_count": int(rng.random() < 0.2)}
        kind = rng.choice(["reported", "filed", "dispatched", "resolved", "closed", "late"])
        t = reported + timedelta(minutes=30)
        if kind != "reported":
            fields |= {"state": kind if kind != "late" else "closed", "filed_at": t,
                       "close_deadline": t + 24 * H, "handle_deadline": t + 12 * H}
        if kind in ("dispatched", "resolved", "closed", "late"):
            fields["dispatched_at"] = t + H
        if kind in ("resolved", "closed", "late"):
            fields["first_resolved_at"] = fields["resolved_at"] = t + (3 if kind != "late" else 30) * H
        if kind in ("closed", "late"):
            fields["closed_at"] = t + (4 if kind == "closed" else 40) * H
        if kind in ("filed", "dispatched"):
            fields["card"] = rng.choice(["none", "yellow", "red"])
        rows.append(_row(i, **fields))
    return rows


def _matching(rows: list[dict], grids: dict[str, int], city: City, **scope: str) -> list[dict]:
    """The cohort rows of [START, END) a scope selects, worked out in Python."""
    place = {ident: (code, *PLACES[code]) for code, ident in grids.items()}
    departments = {"gas": city.gas.id, "roads": city.roads.id, "water": -1}
    chosen = []
    for row in rows:
        if row["exercise"] or not START <= row["reported_at"] < END:
            continue
        grid, community, street, district = place.get(row["grid_id"], (None,) * 4)
        wanted = {"grid": grid, "community": community, "street": street, "district": district,
                  "category": row["category_code"], "source": row["source"]}
        if all(wanted[k] == v for k, v in scope.items() if k != "department") and (
                "department" not in scope or row["department_id"] == departments[scope["department"]]):
            chosen.append(row)
    return chosen


@pytest.fixture
def scoped(session):
    city, grids = scoped_city(session)
    rows = scoped_rows(city, grids)
    _bulk(session, rows)
    return city, grids, rows


@pytest.mark.parametrize("scope", [
    {"district": "D1"}, {"district": "D2"}, {"district": "东城区"}, {"street": "D2S2"}, {"community": "D2S2C2"},
    {"grid": "G3"}, {"department": "gas"}, {"department": "water"}, {"category": "L01"}, {"source": "hotline"},
    {"district": "D2", "department": "roads", "source": "patrol"}, {"street": "D1S1", "grid": "G4"},
    {"district": "D2", "street": "D2S2", "community": "D2S2C1", "category": "S0101"},
])
def test_each_scope_counts_its_own_incidents(session, scoped, scope):
    city, grids, rows = scoped
    expected = _matching(rows, grids, city, **{k: ("D2" if v == "东城区" else v) for k, v in scope.items()})
    kpi = kpi_snapshot(session, START, END, now=NOW, **scope)
    assert kpi["reported"] == len(expected)
    assert kpi["filed"] == sum(r.get("filed_at") is not None and r["filed_at"] < END for r in expected)
    assert kpi["closed"] == sum(r.get("closed_at") is not None and r["closed_at"] < END for r in expected)
    assert sum(kpi["by_source"].values()) == len(expected)
    assert all(kpi[key] == value for key, value in scope.items())  # the scope is echoed
    if not expected:
        assert kpi["closure_rate"] is None and kpi["filing_rate"] is None


@pytest.mark.parametrize(("scope", "code"), [
    ({"district": "D1S1"}, "unknown_district"),  # a street is not a district
    ({"street": "Nowhere"}, "unknown_street"), ({"community": "C9"}, "unknown_community"),
    ({"grid": "G9"}, "unknown_grid"), ({"department": "fire"}, "unknown_department"),
    ({"category": "X01"}, "unknown_category"), ({"source": "fax"}, "unknown_source"),
])
def test_an_unknown_scope_raises_with_its_code(session, scoped, scope, code):
    with pytest.raises(UnknownFilter) as raised:
        kpi_snapshot(session, START, END, now=NOW, **scope)
    assert raised.value.code == code
    with pytest.raises(UnknownFilter):
        kpi_by(session, START, END, "department", now=NOW, **scope)


def test_an_area_name_shared_by_two_areas_needs_its_code(session, scoped):
    for code in ("D2S1", "D2S2"):
        session.execute(update(Area).where(Area.code == code).values(name="新街"))
    with pytest.raises(UnknownFilter) as raised:
        kpi_snapshot(session, START, END, now=NOW, street="新街")
    assert raised.value.code == "ambiguous_street"
    assert kpi_snapshot(session, START, END, now=NOW, street="D2S1")["street"] == "D2S1"
    with pytest.raises(TypeError):
        kpi_snapshot(session, START, END, now=NOW, planet="mars")


def figures(snapshot: dict) -> dict:
    """A snapshot's or a group's figures, without the period, scope and alert keys."""
    return {k: v for k, v in snapshot.items() if k not in META_KEYS}


def check_groups_match_snapshots(session, group: str, *, now: datetime = NOW, **scope: str) -> list[dict]:
    """Assert that ``kpi_by`` is one query and each of its groups has the figures of the scoped snapshot;
    the groups together (with the group of none) make the whole cohort. Returns the groups."""
    queries = []
    listener = lambda *a: queries.append(a[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    groups = kpi_by(session, START, END, group, now=now, **scope)
    event.remove(session.get_bind(), "before_cursor_execute", listener)
    # one grouped query, plus at most one lookup per scope
    assert sum("GROUP BY" in q for q in queries) == 1 and len(queries) <= 1 + len(scope), queries
    whole = kpi_snapshot(session, START, END, now=now, **scope)
    assert sum(g["reported"] for g in groups) == whole["reported"]
    assert sum(g["closed"] for g in groups) == whole["closed"]
    for g in groups:
        if g["code"] is not None:
            assert figures(g) == figures(kpi_snapshot(session, START, END, now=now, **scope, **{group: g["code"]}))
    return groups


@pytest.mark.parametrize("group", GROUPS)
def test_the_grouped_query_equals_the_scoped_snapshots(session, scoped, group):
    groups = check_groups_match_snapshots(session, group)
    assert len(groups) >= 2 and all(g["reported"] > 0 for g in groups)


def test_grouped_within_a_scope_and_as_of_a_moment_inside_the_period(session, scoped):
    check_groups_match_snapshots(session, "grid", district="D2", source="patrol")
    check_groups_match_snapshots(session, "department", now=START + 10 * 24 * H)


def test_grouped_names_and_all_groups(session, scoped):
    city, grids, rows = scoped
    departments = kpi_by(session, START, END, "department", now=NOW, all_groups=True)
    assert [d["code"] for d in departments] == ["gas", "roads", "water"]
    water = departments[-1]
    assert water["name"] == {"zh": "水务", "en": "Water"}
    assert water["reported"] == 0 and water["closure_rate"] is None and water["mean_handle_hours"] is None
    districts = kpi_by(session, START, END, "district", now=NOW)
    assert [d["code"] for d in districts] == ["D1", "D2", None]  # None: incidents with no grid
    assert districts[1]["name"] == {"zh": "东城区", "en": "东城区"}
    assert districts[2]["reported"] == len([r for r in _matching(rows, grids, city) if r["grid_id"] is None])
    sources = kpi_by(session, START, END, "source", now=NOW, source="video", all_groups=True)
    assert [s["code"] for s in sources] == sorted(SOURCES)
    assert all(s["reported"] == 0 for s in sources if s["code"] != "video")
    with pytest.raises(ValueError):
        kpi_by(session, START, END, "planet", now=NOW)


def test_exercises_are_excluded_from_snapshots_and_groups(session, city):
    _bulk(session, [_closed(1, exercise=True, source="video"), _row(2, exercise=True, grid_id=city.g1.id)])
    kpi = kpi_snapshot(session, START, END, now=NOW)
    assert kpi["reported"] == 0 and kpi["by_source"]["video"] == 0 and kpi["closure_rate"] is None
    assert kpi_snapshot(session, START, END, now=NOW, grid="G1")["reported"] == 0
    assert kpi_by(session, START, END, "source", now=NOW) == []


def test_the_previous_period_is_as_long_and_just_before(session, scoped):
    city, _grids, rows = scoped
    both = kpi_compare(session, START, END, now=NOW, department="roads")
    current, previous = both["current"], both["previous"]
    assert previous["to"] == current["from"] and previous["as_of"] == previous["to"]
    assert datetime.fromisoformat(previous["from"]) == START - (END - START)
    assert figures(current) == figures(kpi_snapshot(session, START, END, now=NOW, department="roads"))
    before = [r for r in rows if START - (END - START) <= r["reported_at"] < START and not r["exercise"]
              and r["department_id"] == city.roads.id]
    assert previous["reported"] == len(before) > 0
    assert previous_period(START, END) == (START - (END - START), START)


def test_events_after_now_inside_the_period_do_not_count(session, city):
    t = START + H
    now = START + 10 * H
    _bulk(session, [
        # filed, due at t+2h, closed only after now: overdue and open as of now
        _row(1, state="closed", filed_at=t, dispatched_at=t, first_resolved_at=t + 20 * H,
             closed_at=t + 20 * H, close_deadline=t + 2 * H),
        _closed(2),  # closed at t+4h: counts
    ])
    kpi = kpi_snapshot(session, START, END, now=now)
    assert (kpi["filed"], kpi["dispatched"], kpi["handled"], kpi["closed"], kpi["open"]) == (2, 2, 1, 1, 1)
    assert kpi["due"] == 2 and kpi["std_closure_rate"] == 0.5
    assert datetime.fromisoformat(kpi["as_of"]) == now
