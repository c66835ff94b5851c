"""The city map in a real headless Chromium: every layer is drawn and can be switched off, search and
clicks open details (a camera opens the video wall), and no page ever asks a host other than ours."""

from __future__ import annotations

from urllib.parse import urlsplit

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
TRACES = f"""() => document.querySelector('{GRAPH}')._fullData.map(t => [t.type, t.uid, t.visible,
  (t.lon || t.locations || []).length])"""


def wait_for_map(page) -> None:
    page.wait_for_selector("[data-testid=city-map] canvas", timeout=30_000)
    # MapLibre adds the layers of each trace asynchronously: wait until every trace has its own
    page.wait_for_function(f"""() => {{ const gd = document.querySelector('{GRAPH}');
      if (!gd || !gd._fullData || gd._fullData.length !== 8 || !gd._fullLayout.map._subplot) return false;
      const names = gd._fullLayout.map._subplot.map.getStyle().layers.map(l => l.id).join(' ');
      return gd._fullData.every(t => names.includes(t.uid)); }}""", timeout=30_000)


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
      map.jumpTo({{center: [sensors.lon[0], sensors.lat[0]], zoom: 17}});
      const p = map.project([sensors.lon[0], sensors.lat[0]]);
      const box = map.getContainer().getBoundingClientRect();
      return [box.left + p.x, box.top + p.y];
    }}""")
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
