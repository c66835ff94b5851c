"""In a real headless Chromium (issue 14): the pages work under the cross-site checks (the browser's own
``Origin`` on Dash callbacks and on the sign-in form with its token), signing out is the top bar's button,
and a copy of the session cookie taken before stops working the moment the user signs out."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_sign_out_button_ends_the_session_and_every_copy_of_its_cookie(browser, page, live_server):
    login(page, live_server, "operator", "operator123")
    assert urlsplit(page.url).path == "/"
    page.wait_for_selector("[data-testid=city-map] canvas", timeout=60_000)  # callbacks pass the origin check
    stolen = page.context.cookies()
    thief = browser.new_context()
    thief.add_cookies(stolen)
    other = thief.new_page()
    other.goto(f"{live_server.url}/console")
    assert urlsplit(other.url).path == "/console"

    page.locator("form.logout-form button").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login", timeout=30_000)

    other.goto(f"{live_server.url}/console")
    assert urlsplit(other.url).path == "/login"
    thief.close()
