"""The citizens' reporting page in a real browser at 390×844, signed in as nobody: a doorplate's QR link
opens /report with the doorplate filled in, the citizen adds a photo and sends (the page solves the
proof-of-work challenge), gets a tracking code and follows the report by it."""

from __future__ import annotations

import pytest
from PIL import Image

from reports.doorplate_qr import report_url
from tests.e2e.accounts import api_token
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_a_citizen_reports_from_a_doorplate_qr_link_and_follows_it_by_its_code(browser, live_server, tmp_path):
    token = api_token(live_server, "admin")
    plate = _api(live_server, token, "GET", "/layers/doorplates?limit=1")["features"][0]["properties"]["code"]
    photo = tmp_path / "street.jpg"
    Image.new("RGB", (2400, 1800), (120, 90, 60)).save(photo, "JPEG", quality=90)

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                locale="zh-CN")
    page = phone.new_page()
    page.goto(report_url(live_server.url, plate))
    assert page.get_by_test_id("report-doorplate").input_value() == plate
    page.get_by_test_id("report-category").select_option("rubbish")
    page.get_by_test_id("report-description").fill("门口垃圾堆了三天")
    page.get_by_test_id("report-photo").set_input_files(str(photo))
    page.get_by_test_id("report-submit").click()
    code = page.get_by_test_id("report-tracking-code")
    code.wait_for(timeout=60_000)
    tracking = code.inner_text().strip()
    assert len(tracking) == 10
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_test_id("report-follow").click()
    page.get_by_test_id("report-status-word").wait_for(timeout=15_000)
    assert page.get_by_test_id("report-status-word").get_attribute("data-status") == "received"
    assert "门口垃圾" not in page.content()  # the citizen's own text is not shown back to anyone

    [newest] = _api(live_server, token, "GET", "/incidents?source=citizen&limit=1")
    assert newest["grid_code"] and newest["department"] and len(newest["photos"]) == 1  # routed, photo kept
    phone.close()
