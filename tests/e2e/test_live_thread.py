"""The whole first thread in a real browser: gas readings arrive over HTTP → the scheduler fires the
alert → it shows on the big screen → the operator dispatches in the console (the gas company leads; the
linkage rule brings in the fire brigade and the traffic police) → the grid worker resolves on a phone and
the assisting handlers report → the operator closes → the big screen's KPI tiles change without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.accounts import api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _tile(page, key: str) -> str:
    return page.get_by_test_id(f"kpi-{key}").locator(".kpi-value").inner_text()


def _console_act(page, server, code: str, action: str, note: str) -> None:
    page.goto(f"{server.url}/console")
    row = page.get_by_test_id("incident-row").filter(has_text=code)
    row.get_by_test_id("console-select").click()
    page.get_by_test_id("incident-detail").filter(has_text=code).wait_for(timeout=15_000)
    page.get_by_test_id("console-note").locator("textarea").fill(note)
    page.get_by_test_id(f"console-action-{action}").click()
    page.get_by_test_id("incident-detail").filter(has_text=note).wait_for(timeout=15_000)


def test_gas_alert_to_closed_incident_through_the_ui(browser, live_server):
    token = api_token(live_server, "admin")
    wall = browser.new_context(viewport={"width": 1920, "height": 1080})
    screen = wall.new_page()
    login(screen, live_server, "operator", "operator123")
    screen.wait_for_function(
        "() => /\\d/.test(document.querySelector('[data-testid=kpi-open] .kpi-value')?.textContent || '')",
        timeout=20_000)
    screen.evaluate("window.__marker = 'no-reload'")
    open_before = int(_tile(screen, "open"))

    now = datetime.now(UTC)
    readings = [{"sensor_id": "GAS-P-0001", "ts": (now - timedelta(seconds=110 - 10 * i)).isoformat(),
                 "value": 0.47} for i in range(11)]
    assert _api(live_server, token, "POST", "/readings", {"readings": readings})["accepted"] == 11
    _api(live_server, token, "POST", "/evaluate", {})
    alert = next(a for a in _api(live_server, token, "GET", "/alerts?state=firing")
                 if a["sensor_id"] == "GAS-P-0001")
    incident = _api(live_server, token, "GET", f"/incidents/{alert['incident_id']}")
    assert incident["state"] == "filed"
    code = incident["code"]

    # The alert and the new open incident reach the wall without a reload.
    screen.get_by_test_id("alert-item").first.wait_for(timeout=20_000)
    screen.wait_for_function(
        "n => Number(document.querySelector('[data-testid=kpi-open] .kpi-value').textContent) > n",
        arg=open_before, timeout=20_000)

    desk = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    login(desk, live_server, "operator", "operator123")
    _console_act(desk, live_server, code, "dispatch", "请网格员到场处置")

    phone_ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = phone_ctx.new_page()
    login(phone, live_server, "worker", "worker123")
    card = phone.get_by_test_id("task-card").filter(has_text=code)
    card.get_by_test_id("worker-start").click()
    card.get_by_test_id("worker-resolve").wait_for(timeout=15_000)
    card.locator("textarea").fill("已关阀，压力恢复")
    card.get_by_test_id("worker-resolve").click()
    phone.wait_for_function(
        "code => ![...document.querySelectorAll('[data-testid=task-card]')].some("
        "c => c.textContent.includes(code) && c.querySelector('[data-testid=worker-resolve]'))",
        arg=code, timeout=15_000)
    # A red gas alert brings in the fire brigade and the traffic police (linkage rule gas-red): the worker's
    # resolve finishes the lead's task; the incident waits for verification until each assisting task is done.
    assert _api(live_server, token, "GET", f"/incidents/{incident['id']}")["state"] == "in_progress"
    for name in ("fire", "traffic"):
        handler = api_token(live_server, name)
        current = _api(live_server, handler, "GET", f"/incidents/{incident['id']}")
        _api(live_server, handler, "POST", f"/incidents/{incident['id']}/actions",
             {"action": "resolve", "version": current["version"], "note": f"{name}: 现场处置完毕"})
    assert _api(live_server, token, "GET", f"/incidents/{incident['id']}")["state"] == "resolved"

    _console_act(desk, live_server, code, "close", "核查属实，结案")
    closed = _api(live_server, token, "GET", f"/incidents/{incident['id']}")
    assert closed["state"] == "closed"
    assert [h["action"] for h in closed["history"]][-6:] == ["dispatch", "start", "resolve", "resolve", "resolve",
                                                             "close"]

    screen.wait_for_function(
        "n => Number(document.querySelector('[data-testid=kpi-open] .kpi-value').textContent) === n",
        arg=open_before, timeout=20_000)
    assert screen.evaluate("window.__marker") == "no-reload"
    wall.close()
    phone_ctx.close()
