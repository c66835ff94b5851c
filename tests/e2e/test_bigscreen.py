"""In a real headless Chromium: sign in, the offline map draws, the KPI tiles show and change live."""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlsplit

import pytest

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
    token = live_server.cli("users", "token", "admin").strip().splitlines()[-1]
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
