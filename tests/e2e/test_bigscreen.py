"""In a real headless Chromium: sign in, the offline map draws, the KPI tiles show and change live; the video
wall fills 1920×1080 and 3840×2160 without a scrollbar, and its panels show the city's news."""

from __future__ import annotations

import json
import re
import struct
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from alerts.aqi import aqi
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_login_rejects_a_wrong_password(page, live_server):
    login(page, live_server, "operator", "wrong")
    assert urlsplit(page.url).path == "/login"
    assert page.get_by_role("alert").is_visible()


def test_anonymous_page_visit_goes_to_login(page, live_server):
    page.goto(f"{live_server.url}/console")
    assert urlsplit(page.url).path == "/login"


def test_operator_sees_the_map_draw_and_kpi_tiles_offline(page, live_server):
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url)
            if urlsplit(r.url).hostname not in ("127.0.0.1", "localhost") and not r.url.startswith("data:")
            and not r.url.startswith("blob:") else None)
    login(page, live_server, "operator", "operator123")
    assert urlsplit(page.url).path == "/"
    page.wait_for_selector("[data-testid=city-map] canvas", timeout=30_000)
    tile = page.get_by_test_id("kpi-closure_rate")
    tile.wait_for(timeout=15_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=kpi-open] .kpi-value');"
        " return v && /\\d/.test(v.textContent); }", timeout=20_000)
    assert "办结率" in tile.inner_text()
    assert foreign == [], f"requests left the machine: {foreign[:5]}"


def _api(server, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{server.url}/api/v1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_kpi_tiles_change_without_reload_when_an_incident_closes(page, live_server):
    token = api_token(live_server, "admin")
    login(page, live_server, "operator", "operator123")
    value = page.locator("[data-testid=kpi-closed], [data-testid=kpi-closure_rate]").first
    page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=kpi-open] .kpi-value');"
        " return v && /\\d/.test(v.textContent); }", timeout=20_000)
    before = page.get_by_test_id("kpi-closure_rate").locator(".kpi-value").inner_text()
    page.evaluate("window.__marker = 'same-page'")
    categories = _api(live_server, token, "GET", "/categories")
    code = categories[0]["code"] if isinstance(categories, list) else categories["categories"][0]["code"]
    incident = _api(live_server, token, "POST", "/incidents",
                    {"category": code, "source": "operator", "title": "e2e", "lon": 117.02, "lat": 36.67})
    for action in ("file", "dispatch", "start", "resolve", "close"):
        incident = _api(live_server, token, "POST", f"/incidents/{incident['id']}/actions",
                        {"action": action, "version": incident["version"], "note": action})
    assert incident["state"] == "closed"
    page.wait_for_function(
        "before => document.querySelector('[data-testid=kpi-closure_rate] .kpi-value').textContent !== before",
        arg=before, timeout=20_000)
    after = page.get_by_test_id("kpi-closure_rate").locator(".kpi-value").inner_text()
    assert re.fullmatch(r"\d+\.\d%", after), after
    assert page.evaluate("window.__marker") == "same-page"  # no reload happened
    assert value.is_visible()


# --- the video wall (issue 6) --------------------------------------------------------------------------

#: Hourly air quality of the demo city's station: AQI 82 (良, PM2.5), so no air alert fires on the map.
AIR = {"AIR-PM25-0001": 60.0, "AIR-PM10-0001": 90.0, "AIR-SO2-0001": 12.0, "AIR-NO2-0001": 45.0,
       "AIR-CO-0001": 0.9, "AIR-O3-0001": 70.0}
#: Everything the wall must show is drawn: the map with every trace's MapLibre layers and nothing left to
#: load, the tiles, the panels, and the 24-hour trend chart with its two traces.
WALL_READY = """() => {
  const digits = s => /\\d/.test(document.querySelector(s)?.textContent || '');
  const gd = document.querySelector('#bigscreen-map .js-plotly-plot');
  const map = gd && gd._fullData && gd._fullData.length === 8 && gd._fullLayout.map._subplot
    && gd._fullLayout.map._subplot.map;
  const style = map && map.getStyle();
  const names = style && style.layers ? style.layers.map(l => l.id).join(' ') : '';
  const trend = document.querySelector('#bigscreen-trend-24h .js-plotly-plot');
  return names && gd._fullData.every(t => names.includes(t.uid)) && map.loaded()
    && digits('[data-testid=kpi-open] .kpi-value') && digits('[data-testid=aqi-value]')
    && document.querySelector('[data-testid=rank-row]') && document.querySelector('[data-testid=alert-item]')
    && trend && trend.data && trend.data.length === 2;
}"""
#: The page's size against the viewport, elements inside the wall that would show a scrollbar, panels and
#: tiles reaching outside the viewport, and the root font size.
WALL_METRICS = """() => {
  const scrolls = [...document.querySelectorAll('.bigscreen, .bigscreen *')].filter(e => {
    const s = getComputedStyle(e);
    return (['auto', 'scroll'].includes(s.overflowY) && e.scrollHeight > e.clientHeight + 1)
        || (['auto', 'scroll'].includes(s.overflowX) && e.scrollWidth > e.clientWidth + 1);
  }).map(e => e.id || e.className);
  const outside = [...document.querySelectorAll('.panel, .wall-tile')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5;
  }).map(e => e.className);
  const d = document.documentElement;
  return {scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight, innerWidth, innerHeight, scrolls, outside,
          font: parseFloat(getComputedStyle(d).fontSize)};
}"""


@pytest.fixture(scope="module")
def city_news(live_server, tmp_path_factory) -> str:
    """News for every panel: six hours of air readings, a gas main over pressure (a red alert that files its
    incident), and a drill (an exercise alert left open). Returns an admin token."""
    token = api_token(live_server, "admin")
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [{"sensor_id": sensor, "ts": (now - timedelta(minutes=30 * k)).isoformat(), "value": value}
                for sensor, value in AIR.items() for k in range(12)]
    readings += [{"sensor_id": "GAS-P-0002", "ts": (now - timedelta(seconds=110 - 10 * i)).isoformat(), "value": 0.47}
                 for i in range(11)]
    assert _api(live_server, token, "POST", "/readings", {"readings": readings})["accepted"] == len(readings)
    _api(live_server, token, "POST", "/evaluate", {})
    drill = tmp_path_factory.mktemp("drill") / "drill.csv"
    drill.write_text("sensor_id,ts,value\n" + "".join(
        f"GAS-P-0003,{(now + timedelta(seconds=10 * i)).isoformat()},0.5\n" for i in range(8)), encoding="utf-8")
    assert "fired\t1" in live_server.cli("drill", str(drill), "--keep-open")
    return token


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_the_wall_fills_the_screen_without_scrollbars_and_shows_every_panel(browser, live_server, city_news,
                                                                           tmp_path, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    try:
        login(page, live_server, "operator", "operator123")
        page.wait_for_function(WALL_READY, timeout=90_000)
        page.wait_for_timeout(1_000)  # the charts' resize and the fonts settle
        metrics = page.evaluate(WALL_METRICS)
        assert metrics["scrollWidth"] <= metrics["innerWidth"] == width, metrics
        assert metrics["scrollHeight"] <= metrics["innerHeight"] == height, metrics
        assert metrics["scrolls"] == [] and metrics["outside"] == [], metrics
        assert metrics["font"] == pytest.approx(16 * width / 1920, abs=0.5)  # twice the type on a 4K wall

        shot = tmp_path / f"bigscreen-{width}x{height}.png"
        page.screenshot(path=str(shot))
        png = shot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (width, height)
        assert len(png) > 50_000

        ticker = page.locator("#bigscreen-alert-list [data-testid=alert-item]")
        assert ticker.count() >= 2 and ticker.filter(has_text="燃气").count() >= 2
        drill = page.locator("#bigscreen-alert-list .alert-exercise")
        assert drill.count() == 1 and "演练" in drill.inner_text()
        expected = aqi({k.split("-")[1].lower(): v for k, v in AIR.items()}, averaging="1h")
        assert int(page.get_by_test_id("aqi-value").inner_text()) == expected.aqi == 82
        assert "良" in page.get_by_test_id("aqi").inner_text()
        assert page.locator("#bigscreen-rank-categories [data-testid=rank-row]").count() >= 1
        assert page.locator("#bigscreen-rank-departments [data-testid=rank-row]").count() >= 1
        gas = page.get_by_test_id("family-alarm").filter(has_text="燃气")
        assert gas.inner_text().split()[-1].startswith("1/") and "family-alarm" in gas.get_attribute("class")
        alerts = page.get_by_test_id("kpi-alerts_firing")
        assert int(alerts.locator(".kpi-value").inner_text()) >= 1 and alerts.locator(".chip").count() == 4
        assert page.get_by_test_id("kpi-by_source").locator(".chip").count() == 7  # DESIGN §7's seven sources
        closure = page.get_by_test_id("kpi-closure_rate").locator(".kpi-value")
        assert re.search(r"kpi-(ok|amber|red|none)", closure.get_attribute("class"))
    finally:
        context.close()
