"""The city map in a real headless Chromium: every layer is drawn and can be switched off, search and
clicks open details (a camera opens the video wall), and no page ever asks a host other than ours."""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np
import pytest

from layouts import ids
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

GRAPH = "#bigscreen-map .js-plotly-plot"
#: MapLibre layers of the map: Plotly names them plotly-trace-layer-<uid>-… and plotly-layout-layer-<uid>-map-<i>.
STYLE_LAYERS = f"""() => {{
  const gd = document.querySelector('{GRAPH}');
  const map = gd._fullLayout.map._subplot.map;
  return map.getStyle().layers.map(l => [l.id, map.getLayoutProperty(l.id, 'visibility') || 'visible']);
}}"""
#: MapLibre event data marking a move as the user's (Plotly keeps only user moves across redraws).
USER = "{originalEvent: {type: 'test'}}"
TRACES = f"""() => document.querySelector('{GRAPH}')._fullData.map(t => [t.type, t.uid, t.visible,
  (t.lon || t.locations || []).length])"""


def wait_for_map(page) -> None:
    page.wait_for_selector("[data-testid=city-map] canvas", timeout=30_000)
    # MapLibre adds the layers of each trace asynchronously: wait until every trace has its own
    page.wait_for_function(f"""() => {{ const gd = document.querySelector('{GRAPH}');
      if (!gd || !gd._fullData || gd._fullData.length !== 8 || !gd._fullLayout.map._subplot) return false;
      const names = gd._fullLayout.map._subplot.map.getStyle().layers.map(l => l.id).join(' ');
      // the dense layers (doorplates, cameras) are filled from their arrays for the view: cells or points
      const dense = [1, 2].every(i => gd.data[i].meta && gd._fullData[i].lon && gd._fullData[i].lon.length > 0);
      return dense && gd._fullData.every(t => names.includes(t.uid)); }}""", timeout=30_000)


def dense_meta(page) -> list[dict]:
    return page.evaluate(f"() => [1, 2].map(i => document.querySelector('{GRAPH}').data[i].meta)")


def test_every_layer_is_drawn_and_the_switcher_hides_one_in_the_browser(page, live_server):
    login(page, live_server, "operator", "operator123")
    wait_for_map(page)
    traces = page.evaluate(TRACES)
    layers = dict(page.evaluate(STYLE_LAYERS))
    static = traces[:5]  # grids, doorplates, cameras, sensors, key places: never empty in the demo city
    assert [t[0] for t in static] == ["choroplethmap"] + ["scattermap"] * 4
    for _type, uid, visible, count in static:
        assert visible is True and count > 0
        assert any(uid in name and shown == "visible" for name, shown in layers.items()), uid
    basemap = [name for name in layers if "-map-" in name]
    assert len(basemap) >= 7  # water, river, streets, arterials, three kinds of borders, city boundary
    doorplate_uid = static[1][1]

    page.locator(f"#{ids.BIGSCREEN_LAYERS}").get_by_text("门楼牌", exact=True).click()  # a switcher label
    page.wait_for_function(f"""() => {{ const gd = document.querySelector('{GRAPH}');
      const map = gd._fullLayout.map._subplot.map;
      return map.getStyle().layers.filter(l => l.id.includes('{doorplate_uid}'))
        .every(l => map.getLayoutProperty(l.id, 'visibility') === 'none'); }}""", timeout=10_000)
    assert page.evaluate(f"() => document.querySelector('{GRAPH}').data[1].visible") is False


def test_dense_layers_are_cells_at_city_zoom_and_exactly_the_points_in_view_close_up(page, live_server):
    """Doorplates and cameras: at city zoom one circle per cell, the counts adding up to every point; from
    zoom 15 every point inside the view and nothing outside it (checked against the layers API); clicking
    a point opens its detail, clicking a cell zooms in."""
    login(page, live_server, "operator", "operator123")
    wait_for_map(page)
    totals = [page.request.get(f"{live_server.url}/api/v1/layers/{kind}?limit=10000").json()["numberReturned"]
              for kind in ("doorplates", "cameras")]
    cells = dense_meta(page)
    assert [m["mode"] for m in cells] == ["cells", "cells"]
    assert [m["count"] for m in cells] == totals and totals[0] > 1000
    drawn = page.evaluate(f"() => document.querySelector('{GRAPH}')._fullData[1].lon.length")
    assert drawn < totals[0] / 3  # cells, not points

    plate = page.request.get(f"{live_server.url}/api/v1/layers/doorplates?limit=1").json()["features"][0]
    lon, lat = plate["geometry"]["coordinates"]
    page.evaluate(f"""() => document.querySelector('{GRAPH}')._fullLayout.map._subplot.map
      .jumpTo({{center: [{lon}, {lat}], zoom: 16.5}}, {USER})""")
    page.wait_for_function(f"""() => {{ const d = document.querySelector('{GRAPH}').data;
      return d[1].meta.mode === 'points' && d[2].meta.mode === 'points'; }}""", timeout=15_000)
    for kind, meta in zip(("doorplates", "cameras"), dense_meta(page), strict=True):
        west, south, east, north = meta["bbox"]
        pad = 0.001
        features = page.request.get(f"{live_server.url}/api/v1/layers/{kind}?limit=10000&bbox="
                                    f"{west - pad},{south - pad},{east + pad},{north + pad}").json()["features"]
        # the browser holds float32 positions: compare the API's positions rounded the same way
        inside = [f for f in features
                  if west <= np.float32(f["geometry"]["coordinates"][0]) <= east
                  and south <= np.float32(f["geometry"]["coordinates"][1]) <= north]
        assert meta["count"] == len(inside)
    assert dense_meta(page)[0]["count"] >= 1  # the doorplate we flew to

    for layer in ("视频点位", "网格", "重点场所", "感知设备"):  # nothing but doorplates near the pointer
        page.locator(f"#{ids.BIGSCREEN_LAYERS}").get_by_text(layer, exact=True).click()
    hidden = f"() => [0, 2, 3, 4].every(i => document.querySelector('{GRAPH}').data[i].visible === false)"
    page.wait_for_function(hidden, timeout=10_000)
    page.wait_for_timeout(300)
    point = page.evaluate(f"""() => {{ const map = document.querySelector('{GRAPH}')._fullLayout.map._subplot.map;
      const p = map.project([{lon}, {lat}]); const box = map.getContainer().getBoundingClientRect();
      return [box.left + p.x, box.top + p.y]; }}""")
    page.mouse.move(point[0] + 1, point[1] + 1)
    page.mouse.click(point[0], point[1])
    card = page.get_by_test_id("detail-doorplate")
    card.wait_for(timeout=15_000)
    assert plate["properties"]["code"] in card.inner_text()

    page.evaluate(f"""() => document.querySelector('{GRAPH}')._fullLayout.map._subplot.map
      .jumpTo({{center: [{lon}, {lat}], zoom: 11}}, {USER})""")
    page.wait_for_function(f"() => document.querySelector('{GRAPH}').data[1].meta.mode === 'cells'",
                           timeout=15_000)
    page.wait_for_timeout(500)
    cell = page.evaluate(f"""() => {{ const gd = document.querySelector('{GRAPH}');
      const map = gd._fullLayout.map._subplot.map, d = gd._fullData[1];
      let best = 0; for (let i = 1; i < d.text.length; i++) if (+d.text[i] > +d.text[best]) best = i;
      const p = map.project([d.lon[best], d.lat[best]]); const box = map.getContainer().getBoundingClientRect();
      return [box.left + p.x, box.top + p.y]; }}""")
    page.mouse.move(cell[0] + 1, cell[1] + 1)
    page.mouse.click(cell[0], cell[1])
    page.wait_for_function(f"() => document.querySelector('{GRAPH}')._fullLayout.map._subplot.map.getZoom() >= 15",
                           timeout=15_000)


def test_search_flies_to_a_doorplate_and_shows_its_masked_detail(page, live_server):
    login(page, live_server, "operator", "operator123")
    wait_for_map(page)
    page.fill("#bigscreen-search", "MP0000001")
    page.press("#bigscreen-search", "Enter")
    card = page.get_by_test_id("detail-doorplate")
    card.wait_for(timeout=15_000)
    text = card.inner_text()
    assert "MP0000001" in text and "示范市" in text
    assert "****" in text  # the contact phone is masked for an operator
    page.wait_for_function(f"""() => {{ const map = document.querySelector('{GRAPH}')._fullLayout.map._subplot.map;
      return map.getZoom() > 15; }}""", timeout=10_000)


def test_clicking_a_sensor_opens_its_detail_and_a_camera_opens_the_video_wall(page, live_server):
    login(page, live_server, "operator", "operator123")
    wait_for_map(page)
    for layer in ("门楼牌", "视频点位", "网格", "重点场所"):  # nothing but sensors near the pointer
        page.locator(f"#{ids.BIGSCREEN_LAYERS}").get_by_text(layer, exact=True).click()
    hidden = f"() => [0, 1, 2, 4].every(i => document.querySelector('{GRAPH}').data[i].visible === false)"
    page.wait_for_function(hidden, timeout=10_000)
    page.wait_for_timeout(500)
    point = page.evaluate(f"""() => {{
      const gd = document.querySelector('{GRAPH}');
      const sensors = gd._fullData[3];
      const map = gd._fullLayout.map._subplot.map;
      map.jumpTo({{center: [sensors.lon[0], sensors.lat[0]], zoom: 17}}, {USER});
      const p = map.project([sensors.lon[0], sensors.lat[0]]);
      const box = map.getContainer().getBoundingClientRect();
      return [box.left + p.x, box.top + p.y];
    }}""")
    page.wait_for_function(f"() => document.querySelector('{GRAPH}').data[1].meta.mode === 'points'",
                           timeout=15_000)  # the close-up view is drawn
    page.wait_for_timeout(500)
    page.mouse.move(point[0] + 1, point[1] + 1)
    page.mouse.click(point[0], point[1])
    page.get_by_test_id("detail-sensor").wait_for(timeout=15_000)
    assert page.get_by_test_id("sparkline").count() + page.locator("text=近24小时无读数").count() == 1

    page.fill("#bigscreen-search", "柳")
    page.press("#bigscreen-search", "Enter")
    page.locator("[data-testid=search-hit]", has_text="视频点位").first.click()
    page.get_by_test_id("detail-camera").wait_for(timeout=15_000)
    wall = page.locator(".videowall.open [data-testid=patrol-tile]")
    wall.wait_for(timeout=15_000)
    assert wall.get_by_test_id("stream-url").inner_text().startswith("rtsp://")
    assert "1 / " in wall.inner_text()


def test_no_page_asks_any_host_but_ours(page, live_server):
    """THE OFFLINE CHECK: every page, as admin, makes zero requests to other hosts (tiles, fonts, CDNs)."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    login(page, live_server, "admin", "admin123")
    wait_for_map(page)
    for path in ("/console", "/worker", "/briefing", "/admin"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
        page.wait_for_function("() => !document.querySelector('._dash-loading')", timeout=20_000)
        page.wait_for_timeout(1_500)  # let callbacks and lazy bundles (maps, charts) load
    own = urlsplit(live_server.url).netloc
    assert requests, "the request log is empty"
    foreign = [u for u in requests if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != own]
    assert foreign == [], foreign[:10]
    assert any("plotly" in u for u in requests)  # the map library itself came from our server
