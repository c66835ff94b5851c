"""The grid worker's phone page in a real browser at 390×844: resolving a task with a note and a photo
(shrunk in the browser, stored without EXIF), and a patrol report (巡查上报) with category, note,
photo and the device's location; then a tap on the patrol map moves the report's location."""

from __future__ import annotations

import io
import urllib.request

import pytest
from PIL import Image

from i18n import t
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _photo(path, size=(2400, 1800)) -> str:
    image = Image.new("RGB", size, (70, 130, 60))
    exif = Image.Exif()
    exif[0x0110] = "PhoneCam 9"
    image.save(path, "JPEG", quality=92, exif=exif)
    return str(path)


def _image(server, token: str, url: str) -> Image.Image:
    req = urllib.request.Request(f"{server.url}{url}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = resp.read()
    assert b"PhoneCam" not in data
    return Image.open(io.BytesIO(data))


def test_a_worker_resolves_with_a_photo_and_reports_a_patrol_find(browser, live_server, tmp_path):
    token = api_token(live_server, "admin")
    sensor = _api(live_server, token, "GET", "/sensors/GAS-P-0001")  # it lies in the demo worker's grid
    where = {"lon": sensor["lon"], "lat": sensor["lat"]}
    task = _api(live_server, token, "POST", "/incidents",
                {"category": "S0101", "title": "暴露垃圾待清运", "auto_file": True, **where})
    task = _api(live_server, token, "POST", f"/incidents/{task['id']}/actions",
                {"action": "dispatch", "version": task["version"]})
    photo = _photo(tmp_path / "big.jpg")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                locale="zh-CN", permissions=["geolocation"],
                                geolocation={"longitude": sensor["lon"], "latitude": sensor["lat"]})
    page = phone.new_page()
    login(page, live_server, "worker", "worker123")
    card = page.get_by_test_id("task-card").filter(has_text=task["code"])
    card.get_by_test_id("worker-start").click()
    card.get_by_test_id("worker-resolve").wait_for(timeout=15_000)
    card.locator("textarea").fill("已清运完毕")
    card.locator("input[type=file]").set_input_files(photo)
    card.locator("img.photo-preview[src^='data:image/jpeg']").wait_for(timeout=15_000)
    card.get_by_test_id("worker-resolve").click()
    done = t("pages.action_done", "zh", action=t("action.resolve", "zh"), code=task["code"])
    page.get_by_test_id("worker-message").filter(has_text=done).wait_for(timeout=15_000)

    resolved = _api(live_server, token, "GET", f"/incidents/{task['id']}")
    assert resolved["state"] == "resolved"
    assert resolved["history"][-1]["note"] == "已清运完毕"
    [stored] = resolved["photos"]
    assert resolved["history"][-1]["data"]["photos"] == [stored["id"]]
    full = _image(live_server, token, stored["url"])
    assert max(full.size) <= 1600  # shrunk in the browser before it was sent
    assert max(_image(live_server, token, stored["thumbnail_url"]).size) <= 320

    page.get_by_test_id("worker-patrol-toggle").click()
    page.get_by_test_id("worker-patrol-map").locator(".js-plotly-plot").wait_for(timeout=20_000)
    page.get_by_test_id("worker-patrol-category").click()
    page.get_by_role("option", name="S0103 道路不洁").click()
    page.get_by_test_id("worker-patrol-note").locator("textarea").fill("路面有油污")
    page.locator("#worker-patrol-photo input[type=file]").set_input_files(photo)
    page.locator("#worker-patrol-preview[src^='data:image/jpeg']").wait_for(timeout=15_000)
    page.get_by_test_id("worker-patrol-locate").click()
    page.get_by_test_id("worker-patrol-where").filter(has_text="设备定位").wait_for(timeout=15_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.get_by_test_id("worker-patrol-map").locator(".js-plotly-plot").click(position={"x": 150, "y": 100})
    page.get_by_test_id("worker-patrol-where").filter(has_text="地图点选").wait_for(timeout=15_000)
    page.get_by_test_id("worker-patrol-submit").click()
    page.get_by_test_id("worker-message").filter(has_text="已上报").wait_for(timeout=15_000)
    code = page.get_by_test_id("worker-message").inner_text().split("：")[-1].strip()

    reports = _api(live_server, token, "GET", "/incidents?source=patrol&state=reported")
    report = next(r for r in reports if r["code"] == code)
    assert (report["category"], report["description"]) == ("S0103", "路面有油污")
    tapped = page.get_by_test_id("worker-patrol-where").inner_text()
    assert f"{report['lon']:.5f}" in tapped and f"{report['lat']:.5f}" in tapped  # the tap moved the report
    assert abs(report["lon"] - sensor["lon"]) < 0.02 and abs(report["lat"] - sensor["lat"]) < 0.02
    assert [p["kind"] for p in report["photos"]] == ["photo"]
    assert report["history"][0]["actor"] == "worker"
    phone.close()
