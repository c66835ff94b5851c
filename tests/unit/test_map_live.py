"""The live layers of the city map: every open incident and firing alert is drawn (cells with counts below
zoom 15, points from it), sent whole once and then as deltas, and a handler's map holds only their
department's incidents (the scope rule of /api/v1/incidents)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
import pytest
from dash import Patch, no_update
from flask import Flask
from flask_login import login_user
from sqlalchemy import insert, select

from api.auth import AuthUser, init_auth
from callbacks import mapkit, maplive
from data.accounts import user_by_name
from data.layers import MAP_OPEN_STATES, static_layers
from data.models import Alert, Category, Department, Grid, Incident, Sensor, utcnow
from tests.unit.city_copies import city_copy, seeded_template


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("maplive"), seed=7)


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def ctx(city):
    """A request of a bare app (no sign-in): the map reads as the system and sees every incident."""
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def signed_in_as(city, username: str):
    """A request of an app with sign-in, as ``username``."""
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, city)
    context = server.test_request_context("/")
    context.push()
    with city.uow() as s:
        login_user(AuthUser.of(user_by_name(s, username)))
    return context


def add_incidents(city, count: int, *, state: str = "dispatched", department_id: int | None = None,
                  prefix: str = "L", start: int = 0, **extra: Any) -> None:
    """``count`` incidents spread over the grids, cards cycling none → yellow → red."""
    with city.uow() as s:
        grids = s.execute(select(Grid.id, Grid.minx, Grid.miny, Grid.maxx, Grid.maxy).order_by(Grid.id)).all()
        category = s.scalars(select(Category.code)).first()
        now = utcnow()
        rows = []
        for i in range(start, start + count):
            gid, minx, miny, maxx, maxy = grids[i % len(grids)]
            f = (i // len(grids) + 1) / (count // len(grids) + 2)  # different places inside one grid
            rows.append({"code": f"{prefix}-{i}", "state": state, "category_code": category, "source": "operator",
                         "title": f"路面积水 {i}", "lon": minx + (maxx - minx) * f, "lat": miny + (maxy - miny) * f,
                         "grid_id": gid, "department_id": department_id, "reported_at": now,
                         "card": ("none", "yellow", "red")[i % 3], **extra})
        s.execute(insert(Incident), rows)


def apply(store: dict[str, Any], patch: Patch) -> dict[str, Any]:
    """What dash-renderer does with a Patch of the live Store (the operations ``live_store`` uses)."""
    for op in patch.to_plotly_json()["operations"]:
        *path, last = op["location"]
        target = store
        for key in path:
            target = target[key]
        if op["operation"] == "Merge":
            target[last].update(op["params"]["value"])
        elif op["operation"] == "Delete":
            del target[last]
        else:
            raise AssertionError(f"unexpected operation {op['operation']}")
    return store


# --- every open incident on the map ------------------------------------------------------------------


def test_1200_open_incidents_all_add_up_in_the_map_cells(ctx):
    states = list(MAP_OPEN_STATES)
    for k, state in enumerate(states):  # reported ones too: a citizen report waiting for intake is open
        add_incidents(ctx, 240, state=state, prefix=f"O{k}", start=k * 240)
    add_incidents(ctx, 30, state="closed", prefix="C")
    add_incidents(ctx, 20, state="rejected", prefix="R")
    with ctx.uow() as s:
        fig, _, _ = mapkit.build_map_figure(s)
        layers = static_layers(s)
        points = mapkit.live_points(s, None)
    trace = json.loads(pio.to_json(fig))["data"][mapkit.INCIDENTS]
    assert trace["meta"]["mode"] == "cells" and trace["meta"]["count"] == 1200
    assert sum(int(n) for n in trace["text"]) == 1200  # the counts the cells show
    assert (np.asarray(fig.data[mapkit.INCIDENTS].customdata) == -1).all()  # cells: a click zooms in
    assert len(points["incidents"].ids) == 1200
    for level in range(mapkit.MIN_CELL_LEVEL, mapkit.CLUSTER_MAXZOOM):
        c = mapkit.live_cells(points["incidents"], "incidents", level, layers.center[1])
        assert int(c.count.sum()) == 1200
    # what the browser gets: every one of them, not the newest 500
    store, _ = maplive.refresh_live(1, [1], None)
    assert len(store["layers"]["incidents"]) == 1200
    assert "1200" in fig.layout.annotations[0].text


def test_a_cell_takes_the_colour_of_its_worst_card():
    points = mapkit.LivePoints.of([3, 1, 2], [117.5, 117.0, 117.00001], [36.9, 36.6, 36.60001], [1, 0, 2],
                                  ["c", "a", "b"], [-1, -1, -1])
    c = mapkit.live_cells(points, "incidents", 10, 36.7)
    by_count = dict(zip(c.count.tolist(), c.worst.tolist(), strict=True))
    assert by_count == {2: mapkit.CARD_RANKS.index("red"), 1: mapkit.CARD_RANKS.index("yellow")}
    assert c.size.min() == mapkit.LIVE_POINT_SIZE["incidents"]  # a cell of one is a point's size


def test_firing_alerts_are_all_on_the_map_by_level(ctx):
    with ctx.uow() as s:
        sensors = s.scalars(select(Sensor.id).order_by(Sensor.id)).all()
        now = utcnow()
        s.add_all([Alert(rule_id=f"r{i}", sensor_id=sensors[i % len(sensors)], state="firing",
                         level=("yellow", "red")[i % 2], value=1.0, started_at=now, fired_at=now) for i in range(250)])
        s.add(Alert(rule_id="old", sensor_id=sensors[0], state="resolved", level="red", started_at=now))
    with ctx.uow() as s:
        points = mapkit.live_points(s, None)
        fig, _, _ = mapkit.build_map_figure(s)
    assert len(points["alerts"].ids) == 250  # more than the 200 the map used to keep
    assert set(points["alerts"].rank.tolist()) == {mapkit.LEVEL_RANKS.index("yellow"), mapkit.LEVEL_RANKS.index("red")}
    assert fig.data[mapkit.ALERTS].meta["count"] == 250


def test_a_click_on_a_live_cell_zooms_in_and_on_a_point_opens_it(city):
    with city.uow() as s:
        layers = static_layers(s)
    assert mapkit.click_target(layers, {"curveNumber": mapkit.INCIDENTS, "customdata": -1}) == ("cell", None)
    assert mapkit.click_target(layers, {"curveNumber": mapkit.ALERTS, "customdata": [7]}) == ("alert", 7)
    assert mapkit.click_target(layers, {"curveNumber": mapkit.INCIDENTS, "customdata": "x"}) is None


# --- sent whole once, then as deltas ------------------------------------------------------------------


def test_the_live_store_is_sent_once_then_only_what_changed(ctx):
    add_incidents(ctx, 5000, prefix="BASE")
    store, held = maplive.refresh_live(1, [1], None)
    assert len(store["layers"]["incidents"]) == 5000
    assert maplive.refresh_live(2, [1], held) == (no_update, no_update)  # nothing changed: nothing sent

    add_incidents(ctx, 200, prefix="NEW")
    with ctx.uow() as s:
        gone = s.scalars(select(Incident).where(Incident.code == "BASE-0")).one()
        gone.state = "closed"
        carded = s.scalars(select(Incident).where(Incident.code == "BASE-1")).one()
        carded.card = "red"
    patch, held_after = maplive.refresh_live(3, [1], held)
    assert isinstance(patch, Patch) and held_after != held
    wire = json.dumps(patch.to_plotly_json()).encode()  # as Dash encodes it (ASCII, \\u escapes)
    assert len(wire) <= 20_000  # the 5-s refresh after 200 new incidents: their rows, not the 5,000 held
    ops = patch.to_plotly_json()["operations"]
    merged = next(op["params"]["value"] for op in ops if op["operation"] == "Merge")
    assert len(merged) == 201  # the 200 new ones and the one whose card changed
    assert [op["location"] for op in ops if op["operation"] == "Delete"] == [["layers", "incidents", str(gone.id)]]
    # the browser's Store after the Patch is exactly what a fresh browser gets
    fresh, _ = maplive.refresh_live(4, [1], None)
    assert apply(store, patch)["layers"] == fresh["layers"]
    assert len(fresh["layers"]["incidents"]) == 5199


def test_an_unknown_digest_gets_everything(ctx):
    add_incidents(ctx, 3)
    store, _ = maplive.refresh_live(1, [1], "not-a-digest-we-know")
    assert isinstance(store, dict) and len(store["layers"]["incidents"]) == 3
    assert maplive.refresh_live(1, None, None) == (no_update, no_update)  # before the map: nothing


# --- the scope rule of /api/v1/incidents -------------------------------------------------------------


def test_a_handlers_map_holds_only_their_departments_incidents(city):
    with city.uow() as s:
        own = user_by_name(s, "handler").department_id
        other = s.scalars(select(Department.id).where(Department.id != own)).first()
    add_incidents(city, 4, department_id=own, prefix="OWN")
    add_incidents(city, 6, department_id=other, prefix="OTHER", start=4)
    context = signed_in_as(city, "handler")
    try:
        store, held = maplive.refresh_live(1, [1], None)
        with city.uow() as s:
            fig, _, _ = mapkit.build_map_figure(s)
    finally:
        context.pop()
    texts = [row[3] for row in store["layers"]["incidents"].values()]
    assert len(texts) == 4 and all(text.startswith("OWN-") for text in texts)
    assert fig.data[mapkit.INCIDENTS].meta["count"] == 4
    # an operator's browser holding the handler's digest is not answered with a delta of it
    context = signed_in_as(city, "operator")
    try:
        store, _ = maplive.refresh_live(2, [1], held)
    finally:
        context.pop()
    assert isinstance(store, dict) and len(store["layers"]["incidents"]) == 10


def test_point_hashes_are_the_same_in_every_web_worker():
    """Two web workers must agree on a digest, or every tick would re-send the whole map: no ``hash(str)``."""
    code = ("from callbacks import mapkit; print(mapkit.LivePoints.of([1, 2], [117.1, 117.2], [36.1, 36.2], "
            "[0, 1], ['甲-1 · 积水', 'b'], [1, -1]).hashes().tolist())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1
