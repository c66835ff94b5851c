"""The city map's data and figure: static layers, live parts patched only when they change, clicks
resolved to objects, details with personal data masked, search, drill-down and the video-wall list."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import plotly.io as pio
import pytest
from dash import Patch, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict
from flask import Flask
from sqlalchemy import select

from callbacks import mapkit, maplive
from callbacks.bigscreen import citymap, patrol, scope
from callbacks.bigscreen import detail as selection
from callbacks.bigscreen import live as live_refresh
from data.db import Database
from data.layers import grid_metrics, live_incidents, per_minute, sensor_levels, static_layers
from data.map_details import detail, mask_name, mask_phone, patrol_cameras, search
from data.models import Alert, Area, Camera, Category, Doorplate, Grid, Incident, Sensor, utcnow
from layouts.mapstyle import LAYERS
from tests.unit.city_copies import city_copy, seeded_template


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("map"), seed=3)


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def ctx(city):
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def add_incident(session, grid: Grid, code: str, card: str = "none", state: str = "dispatched") -> Incident:
    category = session.scalars(select(Category)).first()
    incident = Incident(code=code, state=state, category_code=category.code, source="operator", title=code,
                        lon=(grid.minx + grid.maxx) / 2, lat=(grid.miny + grid.maxy) / 2, grid_id=grid.id,
                        reported_at=utcnow(), card=card)
    session.add(incident)
    session.flush()
    return incident


# --- static and live layers ------------------------------------------------------------------------


def test_static_layers_hold_grids_boundaries_key_places_and_the_area_tree(city):
    with city.uow() as s:
        layers = static_layers(s)
        n_grids = len(s.scalars(select(Grid.id)).all())
    assert len(layers.grids.codes) == n_grids == len(layers.grids.geojson["features"])
    assert [f["id"] for f in layers.grids.geojson["features"]] == list(layers.grids.codes)
    kinds = {"community_border", "street_border", "district_border", "arterial", "river", "water"}
    assert kinds <= layers.basemap.keys()
    assert layers.key_places.lon.size == 13 and set(layers.key_places.value.tolist()) <= {0, 1, 2}
    city_area = next(a for a in layers.areas if a.level == "city")
    district = layers.children(city_area.id, "district")[0]
    inside = layers.grid_positions_in(district.id)
    assert 0 < inside.size < n_grids
    assert layers.grid_positions_in(city_area.id).size == n_grids


def test_grid_metrics_count_open_carded_and_recent_incidents(city):
    with city.uow() as s:
        grid = s.scalars(select(Grid)).first()
        add_incident(s, grid, "A", card="red")
        add_incident(s, grid, "B")
        add_incident(s, grid, "C", state="closed")
        metrics = grid_metrics(s)
    assert metrics["open"] == {grid.id: 2}
    assert metrics["cards"] == {grid.id: 1}
    assert metrics["workload"] == {grid.id: 3}


def test_sensor_level_is_the_most_severe_firing_alert(city):
    with city.uow() as s:
        sensor = s.scalars(select(Sensor)).first()
        now = utcnow()
        for level, state in (("yellow", "firing"), ("red", "resolved"), ("orange", "firing")):
            s.add(Alert(rule_id=level, sensor_id=sensor.id, state=state, level=level, started_at=now))
        s.flush()
        assert sensor_levels(s) == {sensor.id: "orange"}


def test_live_incidents_can_be_scoped_to_grids(city):
    with city.uow() as s:
        first, second = s.scalars(select(Grid).order_by(Grid.id).limit(2)).all()
        add_incident(s, first, "IN")
        add_incident(s, second, "OUT")
        assert [i.code for i in live_incidents(s, grid_ids=[first.id])] == ["IN"]
        assert {i.code for i in live_incidents(s)} == {"IN", "OUT"}


# --- the figure ------------------------------------------------------------------------------------


def test_the_figure_draws_every_layer_offline_with_a_switcher_index(ctx):
    with ctx.uow() as s:
        fig, version, digests = mapkit.build_map_figure(s, visible=[k for k in LAYERS if k != "doorplates"])
    payload = json.loads(pio.to_json(fig))
    types = [trace["type"] for trace in payload["data"]]
    assert types[mapkit.GRIDS] == "choroplethmap" and types.count("scattermap") == 7
    assert payload["data"][mapkit.DOORPLATES]["visible"] is False
    assert payload["data"][mapkit.DOORPLATES]["lon"]["dtype"] == "f4"
    with ctx.uow() as s:
        layers = static_layers(s)
    for trace, layer in ((mapkit.DOORPLATES, layers.doorplates), (mapkit.CAMERAS, layers.cameras)):
        # the dense layers start as cells of the first view's level: every point counted, none drawn alone
        meta = payload["data"][trace]["meta"]
        assert meta["mode"] == "cells" and meta["level"] == mapkit.cell_level(payload["layout"]["map"]["zoom"])
        assert meta["count"] == len(layer.lon) and sum(int(x) for x in payload["data"][trace]["text"]) == len(layer.lon)
        assert payload["data"][trace]["hoverinfo"] == "text+name"
    index = payload["layout"]["meta"]["layers"]
    assert set(index) == set(LAYERS)
    names = [layer["name"] for layer in payload["layout"]["map"]["layers"]]
    assert {names[i] for i in index["boundaries"]["layers"]} == {"community_border", "street_border", "district_border"}
    assert index["grids"]["traces"] == [mapkit.GRIDS]
    assert all("url" not in src and "tiles" not in src for src in payload["layout"]["map"]["style"]["sources"].values())
    assert set(digests) == set(mapkit.LIVE_PARTS) and version


def test_a_new_incident_recolours_only_the_grids_and_reaches_the_live_layer(ctx):
    with ctx.uow() as s:
        _, _, before = mapkit.build_map_figure(s)
    _, held = maplive.refresh_live(1, [1], None)
    with ctx.uow() as s:
        new = add_incident(s, s.scalars(select(Grid)).first(), "NEW", card="yellow")
    tiles = [{"type": "bigscreen-kpi-value", "key": "open"}]
    patch, values, *_, digest, _hotline = live_refresh.refresh(3, [1], tiles, [], before)
    assert isinstance(patch, Patch) and len(values) == 1
    touched = {tuple(op["location"][:2]) for op in patch.to_plotly_json()["operations"]}
    assert touched == {("data", mapkit.GRIDS)}  # the incident layer is not re-sent with the figure
    assert digest["sensors"] == before["sensors"] and digest["grids"] != before["grids"]
    live, _ = maplive.refresh_live(2, [1], held)
    ops = live.to_plotly_json()["operations"]
    assert [(op["operation"], list(op["params"]["value"])) for op in ops] == [("Merge", [str(new.id)])]


def test_recolouring_grids_patches_only_their_values(ctx):
    with ctx.uow() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        add_incident(s, grid, "OLD", state="closed")
    patch, digest = citymap.recolour_grids("workload", {})
    ops = patch.to_plotly_json()["operations"]
    assert {tuple(op["location"]) for op in ops} == {("data", mapkit.GRIDS, "z"), ("data", mapkit.GRIDS, "zmax")}
    z = next(op["params"]["value"] for op in ops if op["location"][-1] == "z")
    assert z[0] == 1 and sum(z) == 1 and "grids" in digest


def test_clicks_resolve_to_the_object_under_the_pointer(city):
    with city.uow() as s:
        layers = static_layers(s)
    # the dense traces hold only the points in view: the index into the whole layer is the customdata
    assert mapkit.click_target(layers, {"curveNumber": mapkit.DOORPLATES, "pointNumber": 0, "customdata": 3}) == \
        ("doorplate", int(layers.doorplates.ids[3]))
    assert mapkit.click_target(layers, {"curveNumber": mapkit.CAMERAS, "pointNumber": 5, "customdata": 0}) == \
        ("camera", int(layers.cameras.ids[0]))
    assert mapkit.click_target(layers, {"curveNumber": mapkit.DOORPLATES, "pointNumber": 3}) is None
    assert mapkit.click_target(layers, {"curveNumber": mapkit.CAMERAS, "customdata": -1}) == ("cell", None)
    assert mapkit.click_target(layers, {"curveNumber": mapkit.SENSORS, "pointNumber": 1}) == \
        ("sensor", layers.sensor_ids[1])
    assert mapkit.click_target(layers, {"curveNumber": mapkit.GRIDS, "location": layers.grids.codes[2]}) == \
        ("grid", int(layers.grids.ids[2]))
    assert mapkit.click_target(layers, {"curveNumber": mapkit.INCIDENTS, "customdata": 42}) == ("incident", 42)
    assert mapkit.click_target(layers, {"curveNumber": mapkit.DOORPLATES, "customdata": 10**7}) is None
    assert mapkit.click_target(layers, {"curveNumber": mapkit.HIGHLIGHT, "pointNumber": 0}) is None


def test_clicking_a_cell_zooms_in_until_its_points_show(ctx):
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": "bigscreen-map.clickData", "value": {}}]))
    selected, _, patch = selection.select({"points": [{"curveNumber": mapkit.DOORPLATES, "customdata": -1,
                                                       "lon": 117.01, "lat": 36.65}]}, None, None, [], None)
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch.to_plotly_json()["operations"]}
    assert selected is no_update
    assert ops[("layout", "map", "zoom")] >= mapkit.CLUSTER_MAXZOOM
    assert ops[("layout", "map", "center")] == {"lon": 117.01, "lat": 36.65}


def test_cells_count_every_point_once_and_grow_coarser_as_the_map_zooms_out():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(116.9, 117.2, 20_000), rng.uniform(36.55, 36.8, 20_000)
    online = (rng.random(20_000) < 0.8).astype(np.uint8)
    previous = None
    for level in range(mapkit.MIN_CELL_LEVEL, mapkit.CLUSTER_MAXZOOM):
        c = mapkit.cells(lon, lat, level, online)
        assert int(c.count.sum()) == 20_000
        # every centroid lies within the points' extent; the shares weighted by counts give the online total
        assert lon.min() - 1e-5 <= c.lon.min() and c.lon.max() <= lon.max() + 1e-5  # float32 centroids
        assert round(float((c.share * c.count).sum())) == int(online.sum())
        assert ((c.size >= 7) & (c.size <= 30)).all()
        if previous is not None:
            assert len(c.count) >= previous  # a closer zoom never has fewer cells
        previous = len(c.count)
    assert len(mapkit.cells(lon, lat, 14).count) > 20 * len(mapkit.cells(lon, lat, 9).count)
    assert mapkit.cell_level(3.2) == mapkit.MIN_CELL_LEVEL and mapkit.cell_level(11.9) == 11
    assert mapkit.cell_level(20) == mapkit.CLUSTER_MAXZOOM - 1
    assert len(mapkit.cells(np.zeros(0), np.zeros(0), 10).count) == 0


def _decode(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<" + spec["dtype"])


def test_the_dense_payload_carries_every_point_and_the_cells_of_every_level_once_per_version(city):
    with city.uow() as s:
        layers = static_layers(s)
    payload = mapkit.dense_payload(layers)
    assert mapkit.dense_payload(layers) is payload  # built once per data version
    assert payload["version"] == list(layers.version)
    assert payload["traces"] == {"doorplates": mapkit.DOORPLATES, "cameras": mapkit.CAMERAS}
    np.testing.assert_array_equal(_decode(payload["doorplates"]["lon"]), layers.doorplates.lon)
    np.testing.assert_array_equal(_decode(payload["cameras"]["lat"]), layers.cameras.lat)
    np.testing.assert_array_equal(_decode(payload["cameras"]["online"]), layers.cameras.value)
    levels = payload["doorplates"]["cells"]
    assert sorted(int(k) for k in levels) == list(range(mapkit.MIN_CELL_LEVEL, mapkit.CLUSTER_MAXZOOM))
    for kind, layer in (("doorplates", layers.doorplates), ("cameras", layers.cameras)):
        for spec in payload[kind]["cells"].values():
            assert int(_decode(spec["count"]).sum()) == len(layer.lon)
    json.dumps(payload)  # a Store's data: plain JSON


# --- details, masking, search ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李*"), (None, None)])
def test_names_are_masked_to_the_surname(name, masked):
    assert mask_name(name) == masked


def test_phones_keep_only_their_first_three_and_last_four_digits():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("123") == "***"


def test_a_doorplate_detail_masks_personal_data_except_for_those_allowed(city):
    with city.uow() as s:
        plate = s.scalars(select(Doorplate).where(Doorplate.contact_name.is_not(None))).first()
        masked = dict(detail(s, "doorplate", plate.id).fields)
        full = dict(detail(s, "doorplate", plate.id, show_personal=True).fields)
    assert full["contact_name"] == plate.contact_name and full["contact_phone"] == plate.contact_phone
    assert masked["contact_name"] == plate.contact_name[0] + "*" * (len(plate.contact_name) - 1)
    assert masked["contact_phone"] == plate.contact_phone[:3] + "****" + plate.contact_phone[-4:]
    assert masked["address"] == plate.address and masked["grid"]


def test_the_detail_callback_masks_for_an_operator_and_not_for_an_admin(ctx, monkeypatch):
    with ctx.uow() as s:
        plate = s.scalars(select(Doorplate).where(Doorplate.contact_phone.is_not(None))).first()
    for role, shown in (("operator", plate.contact_phone[:3] + "****"), ("admin", plate.contact_phone)):
        monkeypatch.setattr(selection, "signed_in", lambda role=role: SimpleNamespace(role=role))
        text = json.dumps(selection.show_detail({"kind": "doorplate", "id": plate.id}).to_plotly_json(),
                          default=lambda o: o.to_plotly_json(), ensure_ascii=False)
        assert shown in text and (role == "admin") == (plate.contact_phone in text)


def test_grid_camera_sensor_and_incident_details(city):
    with city.uow() as s:
        grid = s.scalars(select(Grid)).first()
        incident = add_incident(s, grid, "D-1", card="red")
        camera = s.scalars(select(Camera)).first()
        sensor = s.scalars(select(Sensor)).first()
        grid_fields = dict(detail(s, "grid", grid.id).fields)
        camera_detail = detail(s, "camera", camera.id)
        sensor_detail = detail(s, "sensor", sensor.id)
        incident_fields = dict(detail(s, "incident", incident.id).fields)
        assert detail(s, "camera", 10**9) is None and detail(s, "nonsense", 1) is None
    assert grid_fields["open_incidents"] == 1 and grid_fields["red_cards"] == 1 and grid_fields["code"] == grid.code
    assert dict(camera_detail.fields)["platform"] and camera_detail.extra["stream_url"] == camera.stream_url
    assert sensor_detail.extra["series"] == ([], []) and sensor_detail.extra["alerts"] == []
    assert incident_fields["state"] == "dispatched" and incident_fields["card"] == "red"
    card = selection.render_detail(detail_of_incident(city, incident.id))
    assert f"/console?incident={incident.id}" in json.dumps(card.to_plotly_json(), default=lambda o: o.to_plotly_json())


def detail_of_incident(city, ident):
    with city.uow() as s:
        return detail(s, "incident", ident)


def test_search_finds_grid_codes_doorplate_codes_address_fragments_and_cameras(city):
    with city.uow() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        plate = s.scalars(select(Doorplate).order_by(Doorplate.id)).first()
        camera = s.scalars(select(Camera).order_by(Camera.id)).first()
        assert search(s, grid.code)[0].kind == "grid" and search(s, grid.code)[0].id == grid.id
        assert (search(s, plate.code)[0].kind, search(s, plate.code)[0].id) == ("doorplate", plate.id)
        fragment = plate.address[-6:]
        assert all(fragment in h.label for h in search(s, fragment) if h.kind == "doorplate")
        assert plate.id in [h.id for h in search(s, fragment, limit=50)]
        assert (search(s, camera.code)[0].kind, search(s, camera.code)[0].id) == ("camera", camera.id)
        assert any(h.kind == "camera" for h in search(s, camera.name[:4]))
        assert search(s, "%") == [] and search(s, "  ") == []


def test_search_callback_flies_to_the_first_hit_and_shows_the_list(ctx, monkeypatch):
    with ctx.uow() as s:
        plate = s.scalars(select(Doorplate).order_by(Doorplate.id)).first()
    monkeypatch.setattr(selection, "ctx", SimpleNamespace(triggered_id=selection.ids.BIGSCREEN_SEARCH))
    selected, results, patch = selection.select(None, 1, None, [], plate.code)
    assert selected == {"kind": "doorplate", "id": plate.id}
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch.to_plotly_json()["operations"]}
    assert ops[("layout", "map", "center")] == {"lon": plate.lon, "lat": plate.lat}
    assert ops[("data", mapkit.HIGHLIGHT, "lon")] == [plate.lon]
    assert plate.code in json.dumps(results.to_plotly_json(), default=lambda o: o.to_plotly_json())


# --- drill-down and the video wall -----------------------------------------------------------------


def test_drill_down_fills_the_levels_below_and_scopes_to_the_deepest_choice(city):
    with city.uow() as s:
        layers = static_layers(s)
        district = s.scalars(select(Area).where(Area.level == "district").order_by(Area.code)).first()
        street = s.scalars(select(Area).where(Area.parent_id == district.id).order_by(Area.code)).first()
    state = scope.drill_state(layers, {"district": district.id, "street": None, "community": None, "grid": None},
                                  "district")
    assert street.id in [o["value"] for o in state["options"]["street"]] and state["options"]["community"] == []
    assert state["scope"] == {"level": "district", "id": district.id, "district": district.code}
    # choosing another district clears the street chosen under the first one
    state = scope.drill_state(layers, {"district": district.id, "street": street.id, "community": None,
                                           "grid": None}, "district")
    assert state["values"]["street"] is None
    state = scope.drill_state(layers, {"district": district.id, "street": street.id, "community": None,
                                           "grid": None}, "street")
    assert state["scope"]["level"] == "street" and state["options"]["community"]
    west, south, east, north = scope.scope_bounds(layers, state["scope"])
    assert layers.bounds[0] <= west < east <= layers.bounds[2] and layers.bounds[1] <= south < north <= layers.bounds[3]


def test_patrol_cameras_of_an_area_or_a_saved_list(city):
    with city.uow() as s:
        grid = s.scalars(select(Grid).join(Camera, Camera.grid_id == Grid.id)).first()
        in_grid = set(s.scalars(select(Camera.id).where(Camera.grid_id == grid.id)))
        area = patrol_cameras(s, grid_ids=[grid.id])
        saved = patrol_cameras(s, camera_ids=[5, 2, 999_999])
    assert {c.id for c in area} == in_grid
    assert [c.status for c in area] == sorted((c.status for c in area), key=lambda st: st != "online")
    assert [c.id for c in saved] == [5, 2]


def test_the_patrol_rotation_cycles_through_the_list(ctx):
    cameras = [{"id": i, "code": f"C{i}", "name": f"cam {i}", "status": "online", "stream_url": f"rtsp://x/{i}"}
               for i in range(3)]
    shown = [json.dumps(patrol.patrol_tick(n, cameras).to_plotly_json(), default=lambda o: o.to_plotly_json())
             for n in (0, 1, 2, 3)]
    assert "rtsp://x/0" in shown[0] and "rtsp://x/1" in shown[1] and "rtsp://x/0" in shown[3]
    assert "3 / 3" in shown[2]


def test_per_minute_figures_are_read_once_a_minute_per_database(city, tmp_path):
    reads: list[str] = []
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    now = utcnow().replace(second=5)
    with city.uow() as s, other.uow() as o:
        assert per_minute(s, ("k",), now, lambda: reads.append("a") or 1) == 1
        assert per_minute(s, ("k",), now + timedelta(seconds=50), lambda: reads.append("b") or 2) == 1  # same minute
        assert per_minute(o, ("k",), now, lambda: reads.append("c") or 3) == 3  # another database
        assert per_minute(s, ("k",), now + timedelta(minutes=1), lambda: reads.append("d") or 4) == 4  # next minute
    other.dispose()
    assert reads == ["a", "c", "d"]
