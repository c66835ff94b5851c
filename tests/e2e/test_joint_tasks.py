"""Lead and assisting departments (issue 17 §2, 主办/协办) in the console at 1920×1080: the operator dispatches
with an assisting department chosen in the dispatch form, the assisting department's handler finds the
incident in their queue and completes their own task, the incident stays in progress, and it moves to
resolved (for verification) only when the lead department's handler has resolved too."""

from __future__ import annotations

import pytest

from data.catalog import DEPARTMENT_BY_CODE
from i18n import t
from tests.e2e.accounts import add_user, api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PASSWORD = "Joint-handler-2026-e2e!"
LEAD, HELPER = "gas", "fire_rescue"


def _open(page, server, code: str):
    """The console with ``code`` selected; returns its detail."""
    page.goto(f"{server.url}/console")
    row = page.get_by_test_id("incident-row").filter(has_text=code)
    row.wait_for(timeout=20_000)
    row.get_by_test_id("console-select").click()
    detail = page.get_by_test_id("incident-detail").filter(has_text=code)
    detail.wait_for(timeout=15_000)
    return detail


def _click(page, action: str, code: str) -> None:
    """Click an action button and wait for the outcome message naming the incident."""
    page.get_by_test_id(f"console-action-{action}").click()
    done = t("pages.action_done", "zh", action=t(f"action.{action}", "zh"), code=code)
    page.get_by_test_id("console-message").filter(has_text=done).wait_for(timeout=15_000)


def _task_row(page, department_name: str):
    return page.get_by_test_id("joint-task-row").filter(has_text=department_name)


def test_an_assisting_handler_completes_their_task_and_the_lead_resolves_the_incident(browser, live_server):
    for name, department in (("lead-e2e", LEAD), ("helper-e2e", HELPER)):
        add_user(live_server, name, "handler", PASSWORD, department=department)
    token = api_token(live_server, "admin")
    sensor = _api(live_server, token, "GET", "/sensors/GAS-P-0001")  # a point inside the demo city
    incident = _api(live_server, token, "POST", "/incidents",
                    {"category": "L01", "title": "联动测试：燃气管线泄漏", "auto_file": True,
                     "lon": sensor["lon"], "lat": sensor["lat"]})
    code = incident["code"]
    names = {code: DEPARTMENT_BY_CODE[code].name_zh for code in (LEAD, HELPER)}

    def page_of(username: str, password: str):
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        login(page, live_server, username, password)
        return context, page

    # the operator names the fire brigade as the assisting department in the dispatch form
    context, page = page_of("operator", "operator123")
    _open(page, live_server, code)
    page.get_by_test_id("console-assisting").click()
    page.locator(".dash-dropdown-search").fill(names[HELPER])  # the dropdown's search box, once it has opened
    page.get_by_role("option").filter(has_text=names[HELPER]).first.click()
    page.keyboard.press("Escape")
    _click(page, "dispatch", code)
    _task_row(page, names[HELPER]).wait_for(timeout=15_000)
    assert t("joint.role.lead", "zh") in _task_row(page, names[LEAD]).inner_text()
    assert t("joint.role.assist", "zh") in _task_row(page, names[HELPER]).inner_text()
    context.close()

    # the assisting department's handler finds it in their queue and completes their own task
    context, page = page_of("helper-e2e", PASSWORD)
    detail = _open(page, live_server, code)
    _click(page, "start", code)
    # the detail is drawn anew with the task started: click resolve on that drawing, not the one it replaces
    _task_row(page, names[HELPER]).filter(has_text=t("joint.state.in_progress", "zh")).wait_for(timeout=15_000)
    _click(page, "resolve", code)
    _task_row(page, names[HELPER]).filter(has_text=t("joint.state.resolved", "zh")).wait_for(timeout=15_000)
    assert t("joint.state.open", "zh") in _task_row(page, names[LEAD]).inner_text()
    assert t("state.in_progress", "zh") in detail.locator(".detail-head").inner_text()
    assert page.get_by_test_id("console-action-resolve").count() == 0  # their task is done
    context.close()
    stored = _api(live_server, token, "GET", f"/incidents/{incident['id']}")
    assert stored["state"] == "in_progress"

    # the lead resolves: now the incident is resolved, waiting for verification
    context, page = page_of("lead-e2e", PASSWORD)
    detail = _open(page, live_server, code)
    _click(page, "resolve", code)
    detail.locator(".detail-head").filter(has_text=t("state.resolved", "zh")).wait_for(timeout=15_000)
    context.close()
    stored = _api(live_server, token, "GET", f"/incidents/{incident['id']}")
    assert stored["state"] == "resolved"
    assert {task["department"]: task["state"] for task in stored["tasks"]} == {LEAD: "resolved", HELPER: "resolved"}
