"""The title-bar clock in a real browser whose machine is in New York with a US locale: it still shows the
command centre's time (CITYOPS_TZ, Asia/Shanghai by default) in the interface language (Chinese)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SHOWN = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日 (\d{2}):(\d{2}):(\d{2})$")


def test_the_clock_shows_the_centres_zone_in_chinese_on_a_browser_set_to_new_york(browser, live_server):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US",
                                  timezone_id="America/New_York")
    page = context.new_page()
    try:
        login(page, live_server, "operator", "operator123")
        clock = page.get_by_test_id("clock")
        clock.filter(has_text="年").wait_for(timeout=15_000)
        text = clock.inner_text().strip()
        assert clock.get_attribute("data-tz") == "Asia/Shanghai"
    finally:
        context.close()
    match = SHOWN.match(text)
    assert match, text
    shown = datetime(*map(int, match.groups()), tzinfo=ZoneInfo("Asia/Shanghai"))
    # the same instant as the server's clock (within a minute: the page took a moment), not New York's wall time
    assert abs((shown - datetime.now(UTC)).total_seconds()) < 60
