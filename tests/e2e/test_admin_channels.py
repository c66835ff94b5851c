"""Notification channels in the browser at 1920×1080 (issue 17 §3): an admin opens /admin/channels from /admin's
navigation, is told why a URL Apprise cannot parse is refused, adds a channel for a department (listed with its
URL masked, the secret never back in the page) and deletes it after confirming the dialog."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from data.db import Database
from data.models import NotificationChannel
from i18n import t
from tests.e2e.conftest import login
from tests.e2e.test_admin_city import _pick

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SECRET = "e2e-t0ken-secret"
NAME = "燃气值班 e2e"


def test_an_admin_adds_and_deletes_a_channel(page, live_server):
    db = Database(live_server.env["CITYOPS_DATABASE_URL"])
    login(page, live_server, "admin", "admin123")
    page.goto(f"{live_server.url}/admin")
    page.get_by_test_id("admin-nav-channels").click()
    page.wait_for_url(re.compile(r"/admin/channels$"))

    page.get_by_test_id("admin_channels-name").locator("input").fill(NAME)
    _pick(page, "admin_channels-target", "gas", search=True)
    url = page.get_by_test_id("admin_channels-url").locator("input")
    assert url.get_attribute("type") == "password"
    url.fill("not a notification url")
    page.get_by_test_id("admin_channels-add").click()
    message = page.get_by_test_id("admin_channels-message")
    message.filter(has_text=t("admin_channels.error.invalid_url", "zh")).wait_for(timeout=15_000)

    url.fill(f"json://hook:{SECRET}@127.0.0.1:9/e2e")
    page.get_by_test_id("admin_channels-add").click()
    message.filter(has_text=t("admin_channels.added", "zh", name=NAME)).wait_for(timeout=15_000)
    row = page.get_by_test_id("admin_channels-row").filter(has_text=NAME)
    row.wait_for(timeout=15_000)
    assert "json://" in row.inner_text() and SECRET not in page.content()
    assert url.input_value() == ""
    with db.uow() as s:
        (channel,) = s.scalars(select(NotificationChannel).where(NotificationChannel.name == NAME)).all()
        assert channel.department.code == "gas" and channel.deleted_at is None

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=t("admin_channels.delete", "zh")).click()
    message.filter(has_text=t("admin_channels.deleted", "zh", name=NAME)).wait_for(timeout=15_000)
    page.get_by_test_id("admin_channels-row").filter(has_text=NAME).wait_for(state="detached", timeout=15_000)
    with db.uow() as s:
        assert s.scalar(select(NotificationChannel.deleted_at).where(NotificationChannel.name == NAME)) is not None
