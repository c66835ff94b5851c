"""Big-screen callbacks: the map is sent once as float32 arrays; live refreshes are small Patches of what
changed; KPI tiles show their change against the previous period and their target state; the panels read
rankings, the incident trend, the city's AQI and sensors in alarm per family."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import plotly.io as pio
import pytest
from dash import Patch
from flask import Flask
from pydantic import ValidationError
from sqlalchemy import select

from alerts.aqi import aqi
from alerts.ingest import ingest_readings
from callbacks import bigscreen, mapkit
from data.layers import data_version, static_layers
from data.models import Alert, Category, Grid, Incident, Sensor, utcnow
from dispatch import screen
from i18n import t
from layouts import ids
from settings import Settings, get_settings
from tests.unit.city_copies import city_copy, seeded_template

TILE_IDS = [{"type": ids.BIGSCREEN_KPI_VALUE, "key": k} for k in ids.BIGSCREEN_TILE_KEYS]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("bigscreen"), seed=3)


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def app_context(city):
    server = Flask(__name__)
    server.extensions["cityops_db"] = city
    with server.test_request_context("/"):
        yield city


def _ops(patch: Patch) -> dict[tuple, object]:
    """A Patch's assignments as location → value."""
    return {tuple(op["location"]): op["params"]["value"] for op in patch.to_plotly_json()["operations"]
            if op["operation"] == "Assign"}


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
    figure, tiles, _alerts, _incidents, _updated, digest = bigscreen.refresh(1, [1], TILE_IDS)
    assert isinstance(figure, Patch)
    ops = figure.to_plotly_json()["operations"]
    touched = {tuple(op["location"][:2]) for op in ops}
    # the incident and alert layers are not patched here: callbacks/maplive.py sends them as deltas
    assert touched == {("data", i) for i in (mapkit.GRIDS, mapkit.SENSORS)}
    assert len(json.dumps(figure.to_plotly_json())) < 20_000
    assert len(tiles) == len(ids.BIGSCREEN_TILE_KEYS) and all(isinstance(tile, Patch) for tile in tiles)
    closure = _ops(tiles[ids.BIGSCREEN_TILE_KEYS.index("closure_rate")])
    assert closure[(0, "props", "children")] == "—"  # nothing reported yet
    assert closure[(0, "props", "className")] == "kpi-value kpi-none"
    assert _ops(tiles[ids.BIGSCREEN_TILE_KEYS.index("open")])[(0, "props", "children")] == "0"
    # nothing changed since: neither the figure, nor a tile, nor a list is sent again
    again = bigscreen.refresh(2, [1], TILE_IDS, digest)
    assert again[0] is bigscreen.no_update and again[5] is bigscreen.no_update
    assert all(tile is bigscreen.no_update for tile in again[1]) and again[2] is again[3] is bigscreen.no_update
    assert isinstance(again[4], str)


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


# --- tiles: change against the previous period, target state ----------------------------------------

TARGETS = {"closure_rate": (0.95, 0.90), "on_time_closure_rate": (0.90, 0.80)}


@pytest.mark.parametrize(("key", "value", "state"), [
    ("closure_rate", 0.96, "ok"), ("closure_rate", 0.95, "ok"), ("closure_rate", 0.93, "amber"),
    ("closure_rate", 0.8999, "red"), ("on_time_closure_rate", 0.85, "amber"), ("on_time_closure_rate", None, "none"),
    ("open", 3, "none"),  # no target
])
def test_a_rate_tile_turns_amber_then_red_below_its_targets(key, value, state):
    assert bigscreen.tile_state(key, value, TARGETS) == state


def test_the_change_is_shown_in_points_for_rates_and_in_units_for_counts(app_context):
    pt = t("screen.unit.pt")
    assert bigscreen.tile_change("closure_rate", 0.95, 0.929) == (f"▲ 2.1 {pt}", "up")
    assert bigscreen.tile_change("closure_rate", 0.9, 0.93) == (f"▼ 3.0 {pt}", "down")
    assert bigscreen.tile_change("open", 5, 8) == ("▼ 3", "down")
    assert bigscreen.tile_change("open", 4, 4) == (t("screen.change.flat"), "flat")
    assert bigscreen.tile_change("closure_rate", 0.95, None) == ("", "none")
    assert bigscreen.tile_change("closure_rate", 0.9512, 0.951) == (t("screen.change.flat"), "flat")  # < 0.05 pt


@pytest.mark.parametrize(("key", "trend", "tone"), [
    ("closure_rate", "up", "good"), ("on_time_closure_rate", "down", "bad"), ("red_cards", "up", "bad"),
    ("open", "down", "good"), ("reported", "up", "neutral"), ("closure_rate", "flat", "neutral"),
])
def test_a_change_is_good_or_bad_news_by_kpi(key, trend, tone):
    assert bigscreen.tile_tone(key, trend) == tone


def test_tiles_sum_levels_and_sources_and_list_the_parts(app_context):
    current = {"alerts_firing": {"red": 1, "orange": 2, "yellow": 0, "blue": 0}, "closure_rate": 0.93,
               "by_source": {"patrol": 4, "hotline": 3}}
    previous = {"alerts_firing": {"red": 0, "orange": 0, "yellow": 1, "blue": 0}, "closure_rate": 0.97,
                "by_source": {"patrol": 9, "hotline": 0}}
    alerts = bigscreen.build_tile("alerts_firing", current, previous, TARGETS)
    assert (alerts.value, alerts.change, alerts.tone) == ("3", "▲ 2", "bad")
    assert [n for _, _, n in alerts.breakdown] == [1, 2, 0, 0]
    intake = bigscreen.build_tile("by_source", current, previous, TARGETS)
    assert (intake.value, intake.change, intake.tone, len(intake.breakdown)) == ("7", "▼ 2", "neutral", 2)
    closure = bigscreen.build_tile("closure_rate", current, previous, TARGETS)
    assert (closure.value, closure.state, closure.trend, closure.tone) == ("93.0%", "amber", "down", "bad")
    ops = _ops(bigscreen.tile_patch(closure))
    assert ops[(0, "props", "className")] == "kpi-value kpi-amber"
    assert ops[(1, "props", "className")] == "kpi-change trend-down tone-bad"
    assert (2, "props", "children") not in ops  # no breakdown on a rate tile
    chips = _ops(bigscreen.tile_patch(alerts))[(2, "props", "children")]
    assert len(chips) == 4


def test_targets_are_a_validated_setting_merged_with_the_defaults(monkeypatch):
    monkeypatch.setenv("CITYOPS_KPI_TARGETS", '{"closure_rate": [0.97, 0.9]}')
    targets = Settings().kpi_targets
    assert targets["closure_rate"] == (0.97, 0.9) and targets["on_time_closure_rate"] == (0.90, 0.80)
    monkeypatch.delenv("CITYOPS_KPI_TARGETS")
    with pytest.raises(ValidationError, match="red <= amber"):
        Settings(kpi_targets={"closure_rate": (0.8, 0.9)})
    with pytest.raises(ValidationError, match="no target for KPI 'open'"):
        Settings(kpi_targets={"open": (1, 0)})


def test_a_tile_follows_the_configured_target(app_context, monkeypatch):
    monkeypatch.setenv("CITYOPS_KPI_TARGETS", '{"closure_rate": [1.0, 0.99]}')
    get_settings.cache_clear()
    try:
        with app_context.uow() as s:
            grid = s.scalars(select(Grid)).first()
            now = utcnow()
            _incident(s, grid, "C1", now - timedelta(minutes=30), filed=True, closed=True)
            _incident(s, grid, "C2", now - timedelta(minutes=20), filed=True)
        tiles = bigscreen.refresh(1, None, [{"type": ids.BIGSCREEN_KPI_VALUE, "key": "closure_rate"}])[1]
        assert _ops(tiles[0])[(0, "props", "className")] == "kpi-value kpi-red"  # 50 % < 99 %
    finally:
        get_settings.cache_clear()


def test_the_previous_period_is_last_month_up_to_the_same_point():
    zone = get_settings().zone
    start = datetime(2026, 3, 1, tzinfo=zone)
    before, until = bigscreen.previous_period(start, datetime(2026, 3, 10, 12, tzinfo=zone))
    assert (before, until) == (datetime(2026, 2, 1, tzinfo=zone), datetime(2026, 2, 10, 12, tzinfo=zone))
    # 31 March: February ends first, so all of it
    assert bigscreen.previous_period(start, datetime(2026, 3, 31, 23, tzinfo=zone))[1] == start


# --- reads of the screen ------------------------------------------------------------------------------


def _incident(session, grid: Grid, code: str, reported: datetime, *, filed: bool = False, closed: bool = False,
              category: str | None = None, exercise: bool = False, source: str = "patrol",
              close_hours: float = 48.0) -> Incident:
    category_row = session.get(Category, category) if category else session.scalars(select(Category)).first()
    incident = Incident(
        code=code, state="closed" if closed else ("filed" if filed else "reported"),
        category_code=category_row.code, source=source, title=code, lon=(grid.minx + grid.maxx) / 2,
        lat=(grid.miny + grid.maxy) / 2, grid_id=grid.id, reported_at=reported,
        filed_at=reported + timedelta(minutes=1) if filed or closed else None,
        closed_at=reported + timedelta(minutes=5) if closed else None,
        department_id=category_row.department_id if filed or closed else None,
        handle_deadline=reported + timedelta(hours=close_hours / 2),
        close_deadline=reported + timedelta(hours=close_hours), exercise=exercise,
    )
    session.add(incident)
    session.flush()
    return incident


def _alert(session, sensor_id: str, level: str, fired: datetime, *, exercise: bool = False,
           resolved: datetime | None = None) -> Alert:
    alert = Alert(rule_id="test", sensor_id=sensor_id, state="resolved" if resolved else "firing", level=level,
                  value=1.0, started_at=fired, fired_at=fired, resolved_at=resolved, exercise=exercise)
    session.add(alert)
    session.flush()
    return alert


def test_rankings_count_the_period_and_leave_drills_out(app_context):
    now = utcnow()
    with app_context.uow() as s:
        grid = s.scalars(select(Grid)).first()
        codes = s.scalars(select(Category.code).order_by(Category.code)).all()
        for n in range(3):
            _incident(s, grid, f"A{n}", now - timedelta(minutes=10 + n), filed=True, closed=n == 0, category=codes[0])
        _incident(s, grid, "B0", now - timedelta(minutes=5), filed=True, category=codes[1])
        _incident(s, grid, "X0", now - timedelta(minutes=5), filed=True, category=codes[1], exercise=True)
        _incident(s, grid, "OLD", now - timedelta(days=40), filed=True, category=codes[1])
        categories = screen.category_ranking(s, now - timedelta(days=1), now)
        departments = screen.department_ranking(s, now - timedelta(days=1), now, now)
        elsewhere = screen.category_ranking(s, now - timedelta(days=1), now, grid_ids=[-1])
    assert [(r.code, r.reported) for r in categories] == [(codes[0], 3), (codes[1], 1)]
    assert departments[0].filed == 3 and departments[0].closure_rate == round(1 / 3, 4)
    assert elsewhere == []


def test_cards_and_alerts_are_rebuilt_for_an_earlier_moment(app_context):
    now = utcnow()
    with app_context.uow() as s:
        grid = s.scalars(select(Grid)).first()
        # handling limit 5 h (yellow after 4 h, red after 5 h), closing 10 h; closed at +5 min never carries one
        _incident(s, grid, "LATE", now - timedelta(hours=12), filed=True, close_hours=10)
        _incident(s, grid, "DONE", now - timedelta(hours=12), filed=True, closed=True, close_hours=10)
        sensor = s.scalars(select(Sensor.id)).first()
        _alert(s, sensor, "red", now - timedelta(days=2), resolved=now - timedelta(hours=1))
        _alert(s, sensor, "yellow", now - timedelta(minutes=5))
        _alert(s, sensor, "orange", now - timedelta(days=2), exercise=True)
        start = now - timedelta(days=1)
        assert screen.cards_at(s, start, now, now) == {"yellow_cards": 0, "red_cards": 1}
        assert screen.cards_at(s, start, now, now - timedelta(hours=7.5)) == {"yellow_cards": 1, "red_cards": 0}
        assert screen.cards_at(s, start, now, now - timedelta(hours=11)) == {"yellow_cards": 0, "red_cards": 0}
        assert screen.alerts_firing_at(s, now - timedelta(days=1)) == {"red": 1, "orange": 0, "yellow": 0, "blue": 0}
        assert screen.alerts_firing_at(s, now) == {"red": 0, "orange": 0, "yellow": 1, "blue": 0}


def test_the_ticker_marks_drills_and_the_families_count_real_alarms_only(app_context):
    now = utcnow()
    with app_context.uow() as s:
        gas = s.scalars(select(Sensor.id).where(Sensor.family == "gas").order_by(Sensor.id)).all()
        _alert(s, gas[0], "red", now - timedelta(minutes=3))
        _alert(s, gas[0], "yellow", now - timedelta(minutes=2))  # the same sensor counts once
        _alert(s, gas[1], "orange", now - timedelta(minutes=1), exercise=True)
        n_gas = len(gas)
    _figure, _tiles, ticker, *_ = bigscreen.refresh(1, None, [])
    classes = [item.className for item in ticker]
    assert len(ticker) == 3 and "alert-exercise" in classes[0] and "tick-red" in classes[2]
    assert ticker[0].children[0].children.startswith(t("screen.exercise"))
    families = bigscreen.refresh_panels(1, "month", None, 1.0)[6]
    gas_cell = next(c for c in families if c.children[0].children == t("family.gas"))
    assert gas_cell.children[1].children == f"1/{n_gas}" and "family-alarm" in gas_cell.className
    assert gas_cell.style["--family"] == bigscreen.LEVEL_COLOURS["red"]


def test_the_city_aqi_comes_from_the_latest_air_readings_through_hj633(app_context):
    now = utcnow().replace(microsecond=0)
    concentrations = {"air_pm25": 80.0, "air_pm10": 100.0, "air_so2": 10.0, "air_no2": 40.0, "air_co": 0.8,
                      "air_o3": 60.0}
    with app_context.uow() as s:
        air = s.execute(select(Sensor.id, Sensor.kind).where(Sensor.family == "air")).all()
        rows = [{"sensor_id": sid, "ts": (now - timedelta(hours=h)).isoformat(), "value": concentrations[kind]}
                for sid, kind in air for h in (0, 3)]
        assert not ingest_readings(s, rows, now=now).rejected
    expected = aqi({k.removeprefix("air_"): v for k, v in concentrations.items()}, averaging="1h")
    outputs = bigscreen.refresh_panels(1, "month", None, 1.0)
    text = json.dumps(outputs[4].to_plotly_json(), default=lambda o: o.to_plotly_json(), ensure_ascii=False)
    assert f'"children": "{expected.aqi}"' in text and t(f"screen.aqi.cat.{expected.category}") in text
    trend = outputs[5]["data"][0]["y"]
    assert len(trend) == 24 and trend[-1] == expected.aqi and trend[-4] == expected.aqi and trend[0] is None


def test_panels_show_the_trend_and_rankings_and_resend_only_what_changed(app_context):
    now = utcnow()
    with app_context.uow() as s:
        grid = s.scalars(select(Grid)).first()
        _incident(s, grid, "T1", now - timedelta(minutes=1), filed=True, closed=False)
        _incident(s, grid, "T2", now - timedelta(days=3), filed=True, closed=True)
    first = bigscreen.refresh_panels(1, "month", None, 2.0)
    hourly, daily = first[0], first[1]
    assert sum(hourly["data"][0]["y"]) == 1 and len(hourly["data"][0]["x"]) == 24
    assert sum(daily["data"][0]["y"]) == 2 and sum(daily["data"][1]["y"]) == 1 and len(daily["data"][0]["x"]) == 30
    assert hourly["layout"]["font"]["size"] == 22  # fonts follow the screen (4K: twice 1080p)
    rows = first[2]
    assert rows and all(row.__dict__.get("data-testid") == "rank-row" for row in rows)
    digest = first[7]
    again = bigscreen.refresh_panels(2, "month", None, 2.0, digest)
    assert all(part is bigscreen.no_update for part in again)
    today = bigscreen.refresh_panels(3, "today", None, 2.0, digest)
    assert today[2] is bigscreen.no_update or len(today[2]) == 1  # only T1 was reported today
    assert today[0] is bigscreen.no_update


def test_a_refresh_stays_small_on_the_wire(app_context):
    """Everything a refresh sends, the first time (all parts) and then (nothing changed), as JSON."""
    encode = pio.json.to_json_plotly  # Dash's encoder: components and Patches included
    payload = bigscreen.refresh(1, [1], TILE_IDS)
    assert len(encode([p for p in payload if p is not bigscreen.no_update])) < 20_000
    panels = bigscreen.refresh_panels(1, "month", None, 1.0)
    assert len(encode(list(panels))) < 20_000
    quiet = bigscreen.refresh(2, [1], TILE_IDS, payload[5])
    assert len(encode([p for p in quiet if p is not bigscreen.no_update])) < 500
