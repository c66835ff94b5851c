"""The hotline seat after the call in a real browser: a closed hotline order waits for its follow-up call
(回访) on /hotline; the seat records the caller satisfied, and the month's hotline figures show the rating."""

from __future__ import annotations

import pytest

from i18n import t
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_seat_records_a_follow_up_call_and_the_figures_count_it(page, live_server):
    token = api_token(live_server, "admin")
    sensor = _api(live_server, token, "GET", "/sensors/GAS-P-0001")  # a point inside the demo city
    order = _api(live_server, token, "POST", "/incidents",
                 {"category": "S0101", "title": "来电：楼下垃圾没人清", "source": "hotline", "auto_file": True,
                  "lon": sensor["lon"], "lat": sensor["lat"]})
    for action in ("dispatch", "start", "resolve", "close"):
        order = _api(live_server, token, "POST", f"/incidents/{order['id']}/actions",
                     {"action": action, "version": order["version"], "note": "ok"})
    assert order["state"] == "closed"

    login(page, live_server, "operator", "operator123")
    page.goto(f"{live_server.url}/hotline")
    page.get_by_test_id("hotline-followup-row").filter(has_text=order["code"]).wait_for(timeout=15_000)
    page.get_by_test_id("hotline-followup-order").click()
    page.locator(".dash-dropdown-search").fill(order["code"])  # the dropdown's search box, once it has opened
    page.get_by_role("option").filter(has_text=order["code"]).first.click()
    page.get_by_test_id("hotline-followup-result").get_by_text(t("hotline.followup.satisfied", "zh"),
                                                               exact=True).click()
    page.get_by_test_id("hotline-followup-submit").click()
    done = t("hotline.followup.done", "zh", code=order["code"], value=t("hotline.followup.satisfied", "zh"))
    page.get_by_test_id("hotline-message").filter(has_text=done).wait_for(timeout=15_000)
    page.get_by_test_id("hotline-kpi-satisfaction_rate").filter(has_text="100.0%").wait_for(timeout=15_000)
    assert page.get_by_test_id("hotline-followup-row").filter(has_text=order["code"]).count() == 0
