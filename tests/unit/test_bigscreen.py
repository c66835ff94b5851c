"""Big-screen callbacks: the map is sent once as float32 arrays; live refreshes are small Patches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import plotly.io as pio
import pytest
from dash import Patch
from flask import Flask

from callbacks import bigscreen, mapkit
from data.demo import seed_demo_city
from data.layers import data_version, static_layers
from layouts import ids


@pytest.fixture
def city(db):
    seed_demo_city(db, scale=0.02, seed=3, demo_passwords=False)
    return db


@pytest.fixture
def app_context(city):
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def test_map_sends_static_points_as_float32_arrays(app_context):
    with app_context.uow() as s:
        fig, version = bigscreen.build_map_figure(s)
        assert version == data_version(s)
    payload = json.loads(pio.to_json(fig))
    doorplates = payload["data"][bigscreen.DOORPLATES]
    assert doorplates["lon"]["dtype"] == "f4" and "bdata" in doorplates["lon"]
    style = payload["layout"]["map"]["style"]
    assert all(src["type"] == "geojson" and isinstance(src["data"], dict) for src in style["sources"].values())
    assert not {"sprite", "glyphs"} & style.keys()  # nothing remote
    assert all(layer["sourcetype"] == "geojson" for layer in payload["layout"]["map"]["layers"])


def test_static_layers_are_built_once_per_data_version(app_context):
    with app_context.uow() as s:
        first = static_layers(s)
        assert static_layers(s) is first
        assert first.doorplates.lon.size == 2360


def test_refresh_patches_only_the_live_parts_that_changed_and_fills_every_tile(app_context):
    tile_ids = [{"type": "bigscreen-kpi-value", "key": k} for k in ids.BIGSCREEN_TILE_KEYS]
    figure, tiles, _alerts, _incidents, _updated, digest = bigscreen.refresh(1, [1], tile_ids)
    assert isinstance(figure, Patch)
    ops = figure.to_plotly_json()["operations"]
    touched = {tuple(op["location"][:2]) for op in ops}
    assert touched == {("data", i) for i in (mapkit.GRIDS, mapkit.SENSORS, bigscreen.INCIDENTS, bigscreen.ALERTS)}
    assert len(json.dumps(figure.to_plotly_json())) < 20_000
    assert len(tiles) == len(ids.BIGSCREEN_TILE_KEYS)
    assert tiles[ids.BIGSCREEN_TILE_KEYS.index("closure_rate")] == "—"  # nothing reported yet
    assert tiles[ids.BIGSCREEN_TILE_KEYS.index("open")] == "0"
    # nothing changed since: the figure is left alone (no patch, no redraw in the browser)
    again = bigscreen.refresh(2, [1], tile_ids, digest)
    assert again[0] is bigscreen.no_update and again[5] is bigscreen.no_update


def test_refresh_before_the_map_arrives_leaves_the_figure_alone(app_context):
    figure, *_ = bigscreen.refresh(0, None, [])
    assert figure is bigscreen.no_update


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("closure_rate", 0.99881, "99.9%"), ("closure_rate", None, "—"), ("open", 12, "12"),
    ("mean_handle_hours", 2.345, "2.3"),
])
def test_kpi_values_are_formatted_for_the_wall(key, value, shown):
    assert bigscreen.format_kpi(key, value) == shown


def test_kpi_period_is_the_local_calendar_month():
    start, end = bigscreen.kpi_period(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))  # 04:00 on 1 Dec in Shanghai
    assert (start.month, start.day, end.month) == (12, 1, 1)
