"""The big screen's pure parts: tiles addressed by pattern-matching ids (not by child position), the views
of plain data in layouts/, and the browser functions in assets/bigscreen.js (run in node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dash import html

from dispatch.screen_tiles import Tile
from i18n import t
from layouts import ids
from layouts.bigscreen import BREAKDOWN_TILES, wall_tile
from layouts.bigscreen_charts import aqi_figure, trend_figure
from layouts.bigscreen_panels import department_rows, family_cells, incident_items
from layouts.bigscreen_tiles import chips, tile_view

BIGSCREEN_JS = Path(__file__).resolve().parents[2] / "assets" / "bigscreen.js"
NODE = shutil.which("node")


def _by_id(component: Any) -> dict[str, Any]:
    """Every component under ``component`` with a pattern-matching id, by (type, key)."""
    found: dict[str, Any] = {}
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not hasattr(node, "to_plotly_json"):
            continue
        cid = getattr(node, "id", None)
        if isinstance(cid, dict):
            found[(cid["type"], cid["key"])] = node
        stack.append(getattr(node, "children", None))
    return found


@pytest.mark.parametrize("key", ids.BIGSCREEN_TILE_KEYS)
def test_each_part_of_a_tile_has_its_own_pattern_matching_id_inside_the_tiles_testid(key):
    tile = wall_tile(key)
    assert tile.to_plotly_json()["props"]["data-testid"] == f"kpi-{key}"  # DESIGN §11
    parts = _by_id(tile)
    assert "kpi-value" in parts[(ids.BIGSCREEN_KPI_VALUE, key)].className
    assert parts[(ids.BIGSCREEN_KPI_CHANGE, key)].className == "kpi-change"
    assert ((ids.BIGSCREEN_KPI_PARTS, key) in parts) == (key in BREAKDOWN_TILES)


def test_a_tiles_view_is_text_and_classes_of_its_data():
    shown = tile_view(Tile("on_time_closure_rate", 0.8123, delta=-1.5, trend="down", tone="bad", state="amber"))
    assert (shown.value, shown.value_class) == ("81.2%", "kpi-value kpi-amber")
    assert shown.change == f"▼ 1.5 {t('screen.unit.pt')}" and shown.change_class == "kpi-change trend-down tone-bad"
    intake = tile_view(Tile("by_source", 5, parts=(("hotline", 3), ("patrol", 2))))
    assert intake.change == "" and [n for *_, n in intake.parts] == [3, 2]
    assert [c.className for c in chips(intake)] == ["chip", "chip"]
    assert tile_view(Tile("open", None)).value == "—"


def test_panel_views_draw_plain_rows():
    rows = department_rows([("城管", 10, "90.0%", "amber"), ("水务", 5, "100.0%", "ok")])
    assert [r.children[1].children for r in rows] == ["城管", "水务"]
    assert rows[0].children[4].className == "rank-rate kpi-amber"
    assert department_rows([]).className == "empty"
    cells = family_cells([("air", 0, 3, None), ("gas", 2, 5, "red")])
    assert [c.children[0].children for c in cells] == [t("family.gas"), t("family.air")]  # the legend's order
    items = incident_items([("red", "C1", "井盖", "filed", "09:15")])
    assert "C1 · 井盖" in json.dumps(items[0].to_plotly_json(), default=lambda o: o.to_plotly_json(),
                                    ensure_ascii=False)
    assert isinstance(incident_items([]), html.Div)


def test_charts_are_figures_of_plain_data():
    trend = trend_figure(["01", "02"], [(3, 1), (0, 2)], scale=2.0)
    assert trend["data"][0]["y"] == [3, 0] and trend["data"][1]["y"] == [1, 2]
    assert trend["layout"]["font"]["size"] == 22
    aqi = aqi_figure(["01", "02", "03"], [40, None, 160], [1, None, 4])
    colours = aqi["data"][0]["marker"]["color"]
    assert colours[0] == "#00e400" and colours[2] == "#ff0000" and colours[1] != colours[0]


def _js(expression: str) -> Any:
    script = f"const b = require({json.dumps(str(BIGSCREEN_JS))}); console.log(JSON.stringify({expression}))"
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_wall_zoom_and_the_chart_scale_follow_the_screens_width():
    assert _js("b.chartScale(3840)") == 2 and _js("b.chartScale(1920)") == 1
    assert _js("b.wallZoom(11, 1920)") is None  # a 1080p screen keeps the map's own zoom
    assert _js("b.wallZoom(11, 3840)") == 12  # 4K: twice as wide, one zoom level in
    assert _js("b.wallZoom(undefined, 3840)") is None
