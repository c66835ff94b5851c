"""In a real headless Chromium (issue 20): the big screen's 12345 hotline panel shows its eight figures from the
tiles' KPI snapshot, and the leader's /trends page draws its findings and links the monthly report."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from dispatch.kpi import this_month
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

KEYS = ("orders", "direct_rate", "transferred_rate", "satisfaction_rate", "mean_handle_workdays",
        "on_time_reply_rate", "repeat_calls", "out_of_hours")


def test_the_hotline_panel_shows_the_snapshots_hotline_figures(page, live_server):
    login(page, live_server, "operator", "operator123")
    page.wait_for_function("() => document.querySelectorAll('.hotline-cell').length === 8", timeout=60_000)
    assert [page.get_by_test_id(f"hotline-{key}").count() for key in KEYS] == [1] * len(KEYS)
    start, end = this_month(datetime.now(UTC))
    query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    request = urllib.request.Request(f"{live_server.url}/api/v1/kpi?{query}",
                                     headers={"Authorization": f"Bearer {api_token(live_server, 'admin')}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        orders = json.loads(answer.read())["hotline"]["orders"]
    assert page.get_by_test_id("hotline-orders").locator(".hotline-value").inner_text() == str(orders)
    assert "12345" in page.get_by_test_id("hotline-panel").inner_text()


def test_the_trends_page_links_the_monthly_report(page, live_server):
    login(page, live_server, "leader", "leader123")
    page.goto(f"{live_server.url}/trends")
    sections = page.get_by_test_id("trends-body").locator("section")
    sections.first.wait_for(timeout=30_000)
    assert sections.count() == 3
    href = page.get_by_test_id("trends-monthly-xlsx").get_attribute("href")
    assert href.startswith("/api/v1/reports/monthly?month=") and "format=xlsx" in href
