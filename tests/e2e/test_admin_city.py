"""Administering the city in the browser at 1920×1080 (issue 16): an admin creates an operator scoped to a
district on /admin/people and gets a one-time activation code (which then activates the account), and sets a
KPI target on /admin/settings that the big screen's closure-rate tile is then coloured by."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from data.admin_models import SettingOverride
from data.db import Database
from data.models import Area, User
from i18n import t
from tests.e2e.accounts import api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PASSWORD = "Scoped-operator-2026-e2e!"


def _pick(page, testid: str, text: str, *, search: bool = False) -> None:
    """Choose ``text`` in the dropdown marked ``testid`` (typing it into the search box when it has one)."""
    page.get_by_test_id(testid).click()
    if search:
        page.locator(".dash-dropdown-search").fill(text)
    page.get_by_role("option").filter(has_text=text).first.click()


def _set_targets(page, amber: str, red: str) -> None:
    for bound, value in (("amber", amber), ("red", red)):
        page.get_by_test_id(f"admin_settings-kpi_targets-closure_rate.{bound}").locator("input").fill(value)
    page.get_by_test_id("admin_settings-save-kpi_targets").click()
    page.get_by_test_id("admin_settings-message").filter(
        has_text=t("admin_settings.saved", "zh", name=t("admin_settings.kpi_targets", "zh"))).wait_for(timeout=15_000)


def _closure_tile_class(page, live_server, wanted: str) -> None:
    page.goto(f"{live_server.url}/")
    page.wait_for_function(
        "(wanted) => { const v = document.querySelector('[data-testid=kpi-closure_rate] .kpi-value');"
        " return v && v.classList.contains(wanted); }", arg=wanted, timeout=30_000)


def test_an_admin_creates_a_scoped_user_and_sets_the_target_the_big_screen_uses(page, live_server):
    db = Database(live_server.env["CITYOPS_DATABASE_URL"])
    with db.uow() as s:
        district = s.scalar(select(Area.code).where(Area.level == "district").order_by(Area.code))
    # an open filed incident this month: the closure rate is below 1
    token = api_token(live_server, "admin")
    categories = _api(live_server, token, "GET", "/categories")
    code = categories[0]["code"] if isinstance(categories, list) else categories["categories"][0]["code"]
    made = _api(live_server, token, "POST", "/incidents",
                {"category": code, "source": "operator", "title": "admin e2e", "lon": 117.02, "lat": 36.67})
    _api(live_server, token, "POST", f"/incidents/{made['id']}/actions", {"action": "file", "version": made["version"]})
    try:
        login(page, live_server, "admin", "admin123")
        page.goto(f"{live_server.url}/admin")
        page.get_by_test_id("admin-nav-people").click()  # linked from /admin
        page.wait_for_url(re.compile(r"/admin/people$"))

        page.get_by_test_id("admin_people-form-username").locator("input").fill("district-e2e")
        page.get_by_test_id("admin_people-form-display_name").locator("input").fill("区值班员")
        _pick(page, "admin_people-form-role", t("role.operator", "zh"))
        _pick(page, "admin_people-form-area", district, search=True)
        page.get_by_test_id("admin_people-save").click()
        shown = page.get_by_test_id("admin_people-code-value")
        shown.wait_for(timeout=15_000)
        activation = shown.inner_text().strip()
        assert t("admin_people.created", "zh", name="district-e2e") in page.get_by_test_id(
            "admin_people-message").inner_text()
        with db.uow() as s:
            user = s.scalar(select(User).where(User.username == "district-e2e"))
            assert (user.role, user.area_code, user.password_hash) == ("operator", district, None)
        live_server.cli("users", "activate", "district-e2e", stdin=f"{activation}\n{PASSWORD}\n")

        page.get_by_test_id("admin-nav-settings").click()
        page.wait_for_url(re.compile(r"/admin/settings$"))
        _set_targets(page, "1", "1")  # every closure rate below 100 % is red
        _closure_tile_class(page, live_server, "kpi-red")
        page.goto(f"{live_server.url}/admin/settings")
        _set_targets(page, "0", "0")  # no closure rate lies below 0: never red or amber
        _closure_tile_class(page, live_server, "kpi-ok")
        page.goto(f"{live_server.url}/admin/settings")
        page.get_by_test_id("admin_settings-reset-kpi_targets").click()
        page.get_by_test_id("admin_settings-kpi_targets-state").filter(
            has_text=t("admin_settings.default", "zh")).wait_for(timeout=15_000)

        other = page.context.browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        scoped = other.new_page()
        login(scoped, live_server, "district-e2e", PASSWORD)  # the code activated the account
        scoped.goto(f"{live_server.url}/console")
        assert "/login" not in scoped.url
        other.close()
    finally:
        with db.uow() as s:  # the server is shared: leave the defaults in force
            s.execute(delete(SettingOverride))
        db.dispose()
