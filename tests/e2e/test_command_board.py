"""The emergency command board (issue 18 §3) at 1920×1080: a waterlogging event on the demo city activated at
level IV and raised to III through the API, a rescue team imported and assigned; the operator's board shows the
level, the department columns with their task cards (drainage company leading, traffic police and the street
assisting), the timeline with the raise, the resources nearby and the map with its alerts layer (a red gas alert
in the area), fits the screen, and refreshes without a reload when the event is closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.catalog import DEPARTMENT_BY_CODE
from i18n import t
from layouts.components import LEVEL_COLOURS
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

#: The board's gas main: not GAS-P-0001, whose first red alert the live-thread test files as a new incident.
GAS = "GAS-P-0004"

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_command_board_of_a_waterlogging_response(page, live_server, tmp_path):
    token = api_token(live_server, "admin")
    # a point inside the demo city: a gas main no other browser test drives (the red alert below stays firing)
    sensor = _api(live_server, token, "GET", f"/sensors/{GAS}")
    lon, lat = sensor["lon"], sensor["lat"]
    resources = tmp_path / "resources.csv"
    row = f"E2E-PUMP-1,排涝抢险队（测试）,rescue_team,30,{lon + 0.001},{lat + 0.001}"
    resources.write_text(f"code,name,kind,capacity,lon,lat\n{row}\n", encoding="utf-8")
    live_server.cli("import", "resources", str(resources))
    event = _api(live_server, token, "POST", "/events", {"title": "下穿通道积水（浏览器测试）",
                                                         "scenario": "urban_waterlogging", "lon": lon, "lat": lat})
    _api(live_server, token, "POST", f"/events/{event['id']}/level",
         {"plan_id": "waterlogging", "level": "IV", "reason": "积水超15厘米"})
    raised = _api(live_server, token, "POST", f"/events/{event['id']}/level",
                  {"level": "III", "reason": "积水超27厘米"})
    lead = next(task for task in raised["tasks"] if task["task"] == "pump" and task["role"] == "lead")
    _api(live_server, token, "POST", f"/events/{event['id']}/resources",
         {"resource": "E2E-PUMP-1", "task_id": lead["id"]})

    now = datetime.now(UTC)  # the gas main at the event's centre over its red limit for two minutes
    readings = [{"sensor_id": GAS, "ts": (now - timedelta(seconds=117 - 10 * i)).isoformat(), "value": 0.47}
                for i in range(11)]
    _api(live_server, token, "POST", "/readings", {"readings": readings})
    _api(live_server, token, "POST", "/evaluate", {})

    login(page, live_server, "operator", "operator123")
    page.goto(f"{live_server.url}/command/{event['id']}")
    page.get_by_test_id("command-level").filter(has_text=t("emergency.level.III", "zh")).wait_for(timeout=20_000)
    columns = page.get_by_test_id("command-task-column")
    for code in ("drainage", "traffic_police", "subdistrict"):
        columns.filter(has_text=DEPARTMENT_BY_CODE[code].name_zh).first.wait_for(timeout=10_000)
    assert page.get_by_test_id("command-task-card").count() == 5
    timeline = page.get_by_test_id("command-timeline")
    assert t("emergency.timeline.raise", "zh") in timeline.inner_text()
    assert "E2E-PUMP-1" in page.get_by_test_id("command-resources").inner_text()
    page.locator("[data-testid=command-map] .js-plotly-plot").wait_for(timeout=20_000)
    alerts_layer = page.evaluate("name => document.querySelector('[data-testid=command-map] .js-plotly-plot').data"
                                 ".find(trace => trace.name === name)", t("layer.alerts", "zh"))
    assert alerts_layer["lon"] and LEVEL_COLOURS["red"] in alerts_layer["marker"]["color"], alerts_layer
    assert t("level.red", "zh") in page.get_by_test_id("command-alert-counts").inner_text()
    fits = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert fits[0] <= 1920 and fits[1] <= 1080, fits
    assert page.get_by_test_id("command-print").get_attribute("href") == f"/api/v1/events/{event['id']}/report.pdf"

    _api(live_server, token, "POST", f"/events/{event['id']}/close", {"reason": "积水退去"})
    page.get_by_test_id("command-header").filter(has_text=t("emergency.state.closed", "zh")).wait_for(timeout=20_000)
    assert t("emergency.timeline.close", "zh") in timeline.inner_text()
