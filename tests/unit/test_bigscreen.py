"""Big-screen callbacks: the map is sent once as float32 arrays; live refreshes send only what changed (the
map as small Patches, each KPI tile's parts through their pattern-matching ids); KPI tiles show their change
against the previous period and their target state; the panels read rankings, the incident trend, the city's
AQI and sensors in alarm per family."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import plotly.io as pio
import pytest
from dash import Patch, no_update
from flask import Flask
from pydantic import ValidationError
from sqlalchemy import select

from alerts.aqi import aqi
from alerts.ingest import ingest_readings
from callbacks import mapkit
from callbacks.bigscreen import live, panels, periods
from data.layers import data_version, static_layers
from data.models import Alert, Category, Grid, Incident, Sensor, utcnow
from dispatch import screen, screen_tiles
from i18n import t
from layouts import ids
from layouts.bigscreen_tiles import change_text, format_kpi, tile_view
from layouts.components import LEVEL_COLOURS
from settings import Settings, get_settings
from tests.unit.city_copies import city_copy, seeded_template

TILE_IDS = [{"type": ids.BIGSCREEN_KPI_VALUE, "key": k} for k in ids.BIGSCREEN_TILE_KEYS]
#: The tiles with parts under their value, in display order (what the refresh's ``ALL`` State holds).
PART_IDS = [{"type": ids.BIGSCREEN_KPI_PARTS, "key": k} for k in ids.BIGSCREEN_TILE_KEYS
            if k in ("alerts_firing", "by_source")]
#: The refresh's outputs, by position.
FIGURE, VALUES, VALUE_CLASSES, CHANGES, CHANGE_CLASSES, PARTS, ALERTS, INCIDENTS, UPDATED, DIGEST = range(10)


def refresh(map_version, tiles=TILE_IDS, digest=None, scope=None, n=1):
    """The 5-s live refresh as Dash calls it, with every tile (by default) and the parts of those that have them."""
    keys = {tile["key"] for tile in tiles}
    return live.refresh(n, map_version, tiles, [p for p in PART_IDS if p["key"] in keys], digest, scope)


def tile_of(outputs, key: str, tiles=TILE_IDS) -> dict[str, object]:
    """What a refresh wrote into the tile ``key``: its value, value class, change and change class."""
    at = [tile["key"] for tile in tiles].index(key)
    return {"value": outputs[VALUES][at], "value_class": outputs[VALUE_CLASSES][at], "change": outputs[CHANGES][at],
            "change_class": outputs[CHANGE_CLASSES][at]}


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
        fig, version, _digests = mapkit.build_map_figure(s)
        assert version == data_version(s)
    payload = json.loads(pio.to_json(fig))
    doorplates = payload["data"][mapkit.DOORPLATES]
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
    outputs = refresh([1])
    figure, digest = outputs[FIGURE], outputs[DIGEST]
    assert isinstance(figure, Patch)
    ops = figure.to_plotly_json()["operations"]
    touched = {tuple(op["location"][:2]) for op in ops}
    # the incident and alert layers are not patched here: callbacks/maplive.py sends them as deltas
    assert touched == {("data", i) for i in (mapkit.GRIDS, mapkit.SENSORS)}
    assert len(json.dumps(figure.to_plotly_json())) < 20_000
    for column in (VALUES, VALUE_CLASSES, CHANGES, CHANGE_CLASSES):
        assert len(outputs[column]) == len(ids.BIGSCREEN_TILE_KEYS)
        assert all(isinstance(value, str) for value in outputs[column])
    closure = tile_of(outputs, "closure_rate")
    assert closure["value"] == "—" and closure["value_class"] == "kpi-value kpi-none"  # nothing reported yet
    assert tile_of(outputs, "open")["value"] == "0"
    levels, sources = outputs[PARTS]  # the chips: four alert levels, and today's intake by source
    assert len(levels) == 4
    assert sources and all("chip-zero" in chip.className for chip in sources)  # nothing reported today
    # nothing changed since: neither the figure, nor a tile, nor a list is sent again
    again = refresh([1], digest=digest, n=2)
    assert again[FIGURE] is no_update and again[DIGEST] is no_update
    for column in (VALUES, VALUE_CLASSES, CHANGES, CHANGE_CLASSES, PARTS):
        assert again[column] and all(value is no_update for value in again[column])
    assert again[ALERTS] is again[INCIDENTS] is no_update
    assert isinstance(again[UPDATED], str)


def test_refresh_before_the_map_arrives_leaves_the_figure_alone(app_context):
    figure, *_ = refresh(None, [], n=0)
    assert figure is no_update


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("closure_rate", 0.99881, "99.9%"), ("closure_rate", None, "—"), ("open", 12, "12"),
    ("mean_handle_hours", 2.345, "2.3"),
])
def test_kpi_values_are_formatted_for_the_wall(key, value, shown):
    assert format_kpi(key, value) == shown


def test_the_tiles_compare_the_local_calendar_month_so_far_with_last_month_to_the_same_point():
    at = periods.tile_periods(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))  # 04:00 on 1 Dec in Shanghai
    assert (at.start.month, at.start.day, at.end.month) == (12, 1, 1)
    assert (at.before.month, at.before.day) == (11, 1) and at.before_until - at.before == timedelta(hours=4)
    assert at.today == at.start  # the first day of the month
    assert periods.rank_since(datetime(2026, 12, 10, 2, 0, tzinfo=UTC), "month") == at.start


# --- tiles: change against the previous period, target state ----------------------------------------

TARGETS = {"closure_rate": (0.95, 0.90), "on_time_closure_rate": (0.90, 0.80)}


@pytest.mark.parametrize(("key", "value", "state"), [
    ("closure_rate", 0.96, "ok"), ("closure_rate", 0.95, "ok"), ("closure_rate", 0.93, "amber"),
    ("closure_rate", 0.8999, "red"), ("on_time_closure_rate", 0.85, "amber"), ("on_time_closure_rate", None, "none"),
    ("open", 3, "none"),  # no target
])
def test_a_rate_tile_turns_amber_then_red_below_its_targets(key, value, state):
    assert screen_tiles.tile_state(key, value, TARGETS) == state


def _change(key: str, value: float | None, previous: float | None) -> tuple[str, str]:
    """The change as the tile shows it, and its direction."""
    delta, trend = screen_tiles.tile_change(key, value, previous)
    return change_text(key, delta, trend), trend


def test_the_change_is_shown_in_points_for_rates_and_in_units_for_counts(app_context):
    pt = t("screen.unit.pt")
    assert _change("closure_rate", 0.95, 0.929) == (f"▲ 2.1 {pt}", "up")
    assert _change("closure_rate", 0.9, 0.93) == (f"▼ 3.0 {pt}", "down")
    assert _change("open", 5, 8) == ("▼ 3", "down")
    assert _change("open", 4, 4) == (t("screen.change.flat"), "flat")
    assert _change("closure_rate", 0.95, None) == ("", "none")
    assert _change("closure_rate", 0.9512, 0.951) == (t("screen.change.flat"), "flat")  # < 0.05 pt
    assert screen_tiles.tile_change("closure_rate", 0.95, 0.929) == (2.1, "up")  # the data: points, not text


@pytest.mark.parametrize(("key", "trend", "tone"), [
    ("closure_rate", "up", "good"), ("on_time_closure_rate", "down", "bad"), ("red_cards", "up", "bad"),
    ("open", "down", "good"), ("reported", "up", "neutral"), ("closure_rate", "flat", "neutral"),
])
def test_a_change_is_good_or_bad_news_by_kpi(key, trend, tone):
    assert screen_tiles.tile_tone(key, trend) == tone


def test_tiles_sum_levels_and_sources_and_list_the_parts(app_context):
    current = {"alerts_firing": {"red": 1, "orange": 2, "yellow": 0, "blue": 0}, "closure_rate": 0.93,
               "by_source": {"patrol": 4, "hotline": 3}}
    previous = {"alerts_firing": {"red": 0, "orange": 0, "yellow": 1, "blue": 0}, "closure_rate": 0.97,
                "by_source": {"patrol": 9, "hotline": 0}}
    alerts = screen_tiles.build_tile("alerts_firing", current, previous, TARGETS)
    assert (alerts.value, alerts.delta, alerts.tone) == (3, 2, "bad")
    assert alerts.parts == (("red", 1), ("orange", 2), ("yellow", 0), ("blue", 0))
    shown = tile_view(alerts)
    assert (shown.value, shown.change) == ("3", "▲ 2")
    assert [(label, n) for label, _, n in shown.parts] == [(t(f"level.{lvl}"), n) for lvl, n in alerts.parts]
    intake = tile_view(screen_tiles.build_tile("by_source", current, previous, TARGETS))
    assert (intake.value, intake.change, intake.change_class, len(intake.parts)) == (
        "7", "▼ 2", "kpi-change trend-down tone-neutral", 2)
    closure = screen_tiles.build_tile("closure_rate", current, previous, TARGETS)
    assert (closure.value, closure.state, closure.trend, closure.tone) == (0.93, "amber", "down", "bad")
    shown = tile_view(closure)
    assert shown.value == "93.0%" and shown.value_class == "kpi-value kpi-amber"
    assert shown.change_class == "kpi-change trend-down tone-bad"
    assert shown.parts == ()  # no breakdown on a rate tile


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
        outputs = refresh(None, [{"type": ids.BIGSCREEN_KPI_VALUE, "key": "closure_rate"}])
        assert outputs[VALUE_CLASSES] == ["kpi-value kpi-red"] and outputs[VALUES] == ["50.0%"]  # 50 % < 99 %
    finally:
        get_settings.cache_clear()


def test_the_previous_period_is_last_month_up_to_the_same_point():
    zone = get_settings().zone
    start = datetime(2026, 3, 1, tzinfo=zone)
    march_tenth = periods.tile_periods(datetime(2026, 3, 10, 12, tzinfo=zone))
    before, until = march_tenth.before, march_tenth.before_until
    assert (before, until) == (datetime(2026, 2, 1, tzinfo=zone), datetime(2026, 2, 10, 12, tzinfo=zone))
    # 31 March: February ends first, so all of it
    assert periods.tile_periods(datetime(2026, 3, 31, 23, tzinfo=zone)).before_until == start


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
    ticker = refresh(None, [])[ALERTS]
    classes = [item.className for item in ticker]
    assert len(ticker) == 3 and "alert-exercise" in classes[0] and "tick-red" in classes[2]
    assert ticker[0].children[0].children.startswith(t("screen.exercise"))
    families = panels.refresh_panels(1, "month", None, 1.0)[6]
    gas_cell = next(c for c in families if c.children[0].children == t("family.gas"))
    assert gas_cell.children[1].children == f"1/{n_gas}" and "family-alarm" in gas_cell.className
    assert gas_cell.style["--family"] == LEVEL_COLOURS["red"]


def test_the_warning_line_counts_the_periods_real_alarms_in_the_scope(app_context):
    now = utcnow()
    with app_context.uow() as s:
        gas = s.scalars(select(Sensor.id).where(Sensor.family == "gas").order_by(Sensor.id)).all()
        _alert(s, gas[0], "red", now - timedelta(minutes=3))
        _alert(s, gas[1], "yellow", now - timedelta(minutes=2))
        _alert(s, gas[1], "orange", now - timedelta(minutes=1), exercise=True)  # a drill is not counted
        _alert(s, gas[0], "red", now - timedelta(days=40))  # before this month
    line = panels.show_warnings(1, "month", None)
    assert line == t("screen.warnings.line", period=t("screen.warnings.month"), raised=2, reviewed=0, confirmed=0,
                     false_alarm=0, ack="—")


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
    outputs = panels.refresh_panels(1, "month", None, 1.0)
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
    first = panels.refresh_panels(1, "month", None, 2.0)
    hourly, daily = first[0], first[1]
    assert sum(hourly["data"][0]["y"]) == 1 and len(hourly["data"][0]["x"]) == 24
    assert sum(daily["data"][0]["y"]) == 2 and sum(daily["data"][1]["y"]) == 1 and len(daily["data"][0]["x"]) == 30
    assert hourly["layout"]["font"]["size"] == 22  # fonts follow the screen (4K: twice 1080p)
    rows = first[2]
    assert rows and all(row.__dict__.get("data-testid") == "rank-row" for row in rows)
    digest = first[7]
    again = panels.refresh_panels(2, "month", None, 2.0, digest)
    assert all(part is no_update for part in again)
    today = panels.refresh_panels(3, "today", None, 2.0, digest)
    assert today[2] is no_update or len(today[2]) == 1  # only T1 was reported today
    assert today[0] is no_update


def test_a_refresh_stays_small_on_the_wire(app_context):
    """Everything a refresh sends, the first time (all parts) and then (nothing changed), as JSON."""
    encode = pio.json.to_json_plotly  # Dash's encoder: components and Patches included
    def sent(outputs: tuple) -> list:  # as Dash answers: no_update left out, of pattern-matching outputs too
        flat = [item for n, out in enumerate(outputs) for item in (out if VALUES <= n <= PARTS else [out])]
        return [item for item in flat if item is not no_update]

    payload = refresh([1])
    assert len(encode(sent(payload))) < 20_000
    slow = panels.refresh_panels(1, "month", None, 1.0)
    assert len(encode(list(slow))) < 20_000
    quiet = refresh([1], digest=payload[DIGEST], n=2)
    assert len(encode(sent(quiet))) < 500
