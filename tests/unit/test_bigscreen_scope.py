"""The big screen follows the area the operator drills into — KPI tiles, alert ticker, incident list, AQI — and
its detail card shows an incident only to a user who may see it through ``/api/v1/incidents``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from dash import no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict
from flask import Flask
from flask_login import login_user
from sqlalchemy import select

from alerts.aqi import aqi
from alerts.ingest import ingest_readings
from api.auth import AuthUser, init_auth
from callbacks.bigscreen import citymap, detail, panels, periods
from callbacks.bigscreen.scope import screen_scope
from data.db import Database
from data.layers import StaticLayers, static_layers
from data.models import Category, Grid, Sensor, User, utcnow
from dispatch.kpi import kpi_snapshot
from i18n import t
from layouts import ids
from layouts.bigscreen_tiles import format_kpi
from tests.unit.city_copies import city_copy, seeded_template
from tests.unit.test_bigscreen import ALERTS, INCIDENTS, _alert, _incident, refresh, tile_of

#: Streets of the seeded city (seed 3): the first holds the air station; the other two, of one district, have
#: sensors but none of air.
STATION_STREET, OTHER_STREET, NEIGHBOUR_STREET = "379901001", "379903001", "379903002"
AIR = {"air_pm25": 80.0, "air_pm10": 100.0, "air_so2": 10.0, "air_no2": 40.0, "air_co": 0.8, "air_o3": 60.0}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return seeded_template(tmp_path_factory.mktemp("bigscreen-scope"), seed=3)


@pytest.fixture
def city(template: Any, tmp_path: Any) -> Iterator[Database]:
    yield from city_copy(template, tmp_path)


@pytest.fixture
def app_context(city: Database) -> Iterator[Database]:
    """A callback's request context on the city (no user signed in)."""
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def _text(component: Any) -> str:
    return json.dumps(component, default=lambda o: o.to_plotly_json(), ensure_ascii=False)


def _street(layers: StaticLayers, code: str) -> Any:
    return next(a for a in layers.areas if a.level == "street" and a.code == code)


def _street_scope(layers: StaticLayers, code: str) -> dict[str, Any]:
    """The scope Store the drill-down callback writes when the operator picks the street ``code``."""
    street = _street(layers, code)
    token = context_value.set(AttributeDict(triggered_inputs=[
        {"prop_id": f"{ids.BIGSCREEN_AREA_STREET}.value", "value": street.id}]))
    try:
        outputs = citymap.drill_down(street.parent_id, street.id, None, None)
    finally:
        context_value.reset(token)
    return outputs[7]


def _grids_of(session: Any, layers: StaticLayers, code: str) -> list[Grid]:
    ids = layers.grids.ids[layers.grid_positions_in(_street(layers, code).id)].tolist()
    return list(session.scalars(select(Grid).where(Grid.id.in_(ids)).order_by(Grid.id)))


def _tile(outputs: tuple[Any, ...], key: str) -> Any:
    return tile_of(outputs, key)["value"]


def test_choosing_a_street_scopes_the_tiles_to_its_kpi_snapshot_and_the_ticker_to_its_alerts(app_context):
    now = utcnow()
    with app_context.uow() as s:
        layers = static_layers(s)
        # the street next door is in the same district: tiles following the district would count it too
        here, there = _grids_of(s, layers, OTHER_STREET), _grids_of(s, layers, NEIGHBOUR_STREET)
        for n in range(2):
            _incident(s, here[0], f"HERE{n}", now - timedelta(minutes=5 + n), filed=True, closed=n == 0)
        for n in range(5):
            _incident(s, there[0], f"THERE{n}", now - timedelta(minutes=5 + n), filed=True)
        sensor_here = s.scalars(select(Sensor).where(Sensor.grid_id.in_([g.id for g in here]))).first()
        sensor_there = s.scalars(select(Sensor).where(Sensor.grid_id.in_([g.id for g in there]))).first()
        _alert(s, sensor_here.id, "red", now - timedelta(minutes=2))
        _alert(s, sensor_there.id, "yellow", now - timedelta(minutes=1))
        names = sensor_here.name, sensor_there.name
        scope = _street_scope(layers, OTHER_STREET)
        at = periods.tile_periods(now)
        start, end = at.start, at.end
        street = kpi_snapshot(s, start, end, now=now, street=OTHER_STREET)
        whole = kpi_snapshot(s, start, end, now=now)
    assert street["reported"] == 2 and whole["reported"] >= 7  # the figures differ: the test can tell them apart

    city = refresh(None)
    tiles = refresh(None, scope=scope)
    city_alerts, alerts, incidents = city[ALERTS], tiles[ALERTS], tiles[INCIDENTS]

    assert _tile(city, "reported") == str(whole["reported"])
    for key in ("reported", "open", "closure_rate", "red_cards"):
        assert _tile(tiles, key) == format_kpi(key, street[key]), key
    assert _tile(tiles, "alerts_firing") == "1"  # the street's one red alert, not the city's two
    assert names[0] in _text(alerts) and names[1] not in _text(alerts)
    assert names[1] in _text(city_alerts)
    assert "HERE1" in _text(incidents) and "THERE0" not in _text(incidents)


def test_a_scope_naming_no_known_area_shows_the_city(app_context):
    with app_context.uow() as s:
        layers = static_layers(s)
    for bad in ({"level": "street", "id": -1}, {"level": "grid", "id": "x"}, {"id": 1}, {"level": "planet", "id": 1}):
        assert screen_scope(layers, bad) is None
    street = _street(layers, OTHER_STREET)
    assert screen_scope(layers, {"level": "street", "id": street.id}).kpi == {"street": OTHER_STREET}
    grid = int(layers.grids.ids[0])
    assert screen_scope(layers, {"level": "grid", "id": grid}).grid_ids == [grid]


def test_the_aqi_follows_the_chosen_area_to_its_own_stations(app_context):
    now = utcnow().replace(microsecond=0)
    with app_context.uow() as s:
        layers = static_layers(s)
        air = s.execute(select(Sensor.id, Sensor.kind).where(Sensor.family == "air")).all()
        rows = [{"sensor_id": sid, "ts": (now - timedelta(hours=h)).isoformat(), "value": AIR[kind]}
                for sid, kind in air for h in (0, 3)]
        assert not ingest_readings(s, rows, now=now).rejected
        station, other = _street_scope(layers, STATION_STREET), _street_scope(layers, OTHER_STREET)
    expected = aqi({k.removeprefix("air_"): v for k, v in AIR.items()}, averaging="1h")

    at_station = panels.refresh_panels(1, "month", station, 1.0)
    elsewhere = panels.refresh_panels(1, "month", other, 1.0)

    assert f'"children": "{expected.aqi}"' in _text(at_station[4])
    assert t("screen.aqi.none") in _text(elsewhere[4])  # no station in that street: no figure borrowed
    assert all(value is None for value in elsewhere[5]["data"][0]["y"])


# --- the detail card keeps to the user's scope --------------------------------------------------------


@pytest.fixture
def signed_in(city: Database) -> Iterator[Any]:
    """A callback request context in which ``sign_in(user)`` signs that user in."""
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, city)
    with server.test_request_context("/_dash-update-component", method="POST"):
        yield lambda user: login_user(AuthUser.of(user))


def test_a_handler_sees_the_detail_and_list_entries_of_their_departments_incidents_only(city, signed_in):
    now = utcnow()
    with city.uow() as s:
        handler = s.scalars(select(User).where(User.username == "handler")).one()
        operator = s.scalars(select(User).where(User.role == "operator")).first()
        grid = s.scalars(select(Grid)).first()
        theirs = s.scalars(select(Category).where(Category.department_id == handler.department_id)).first()
        other = s.scalars(select(Category).where(Category.department_id != handler.department_id)).first()
        mine = _incident(s, grid, "MINE", now, filed=True, category=theirs.code).id
        foreign = _incident(s, grid, "FOREIGN", now, filed=True, category=other.code).id
        s.expunge_all()

    signed_in(handler)
    shown = _text(detail.show_detail({"kind": "incident", "id": mine}))
    assert "MINE" in shown
    refused = detail.show_detail({"kind": "incident", "id": foreign})
    assert "FOREIGN" not in _text(refused) and refused.children == t("map.gone")  # as if it did not exist
    assert detail.show_detail({"kind": "incident", "id": "not-a-number"}).children == t("map.gone")
    assert detail.show_detail(["incident", foreign]) is no_update
    listed = _text(refresh(None, [])[INCIDENTS])  # nor does the live incident list name it
    assert "MINE" in listed and "FOREIGN" not in listed

    signed_in(operator)
    assert "FOREIGN" in _text(detail.show_detail({"kind": "incident", "id": foreign}))
    assert "FOREIGN" in _text(refresh(None, [])[INCIDENTS])
