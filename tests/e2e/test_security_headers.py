"""The security headers in a real Chromium (issue 14, finding 10): every page works under the Content
Security Policy — no violation reported, the city map drawn by MapLibre, the briefing's Plotly charts — and
another site that frames a page gets nothing. In the production pass (HTTPS), HSTS and Secure cookies too."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login
from tests.e2e.test_map import wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

#: Reported by the page itself for every blocked script, style, image, worker, connection or frame.
REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"""
PAGES = ("/", "/console", "/worker", "/briefing", "/admin")


def _page_ready(page) -> None:
    page.wait_for_function("() => { const c = document.querySelector('#_pages_content');"
                           " return c && c.children.length > 0 && !document.querySelector('.page-forbidden'); }",
                           timeout=30_000)
    page.wait_for_load_state("load")
    page.wait_for_timeout(2_000)  # let the first callbacks answer and the charts draw


def test_every_page_works_under_the_csp_and_no_site_can_frame_one(page, live_server):
    page.add_init_script(REPORT_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    login(page, live_server, "admin", "admin123")
    for path in PAGES:
        answer = page.goto(f"{live_server.url}{path}")
        assert answer is not None and answer.status == 200, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        _page_ready(page)
        if path == "/":
            wait_for_map(page)  # MapLibre's workers (blob:) and canvas under the policy
        if path == "/briefing":
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    violations = [e for e in errors if "Content Security Policy" in e or "CSP violation" in e]
    assert not violations, violations
    refused = [e for e in errors if "status of 400" in e or "status of 5" in e]  # the callback checks
    assert not refused, refused
    if live_server.url.startswith("https://"):  # the production pass: HSTS and a Secure session cookie
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        session = [c for c in page.context.cookies() if c["name"] == "__Host-cityops"]  # ASVS 3.4.4
        assert session and all(c["secure"] and c["path"] == "/" for c in session), session

    # Another site frames the console: the browser refuses to show it.
    page.goto("about:blank")
    page.set_content(f'<iframe id="framed" src="{live_server.url}/console" width="800" height="600"></iframe>',
                     wait_until="domcontentloaded")
    framed = next(f for f in page.frames if f != page.main_frame)
    framed.wait_for_load_state("load")
    # a refused frame shows Chromium's error page instead of ours (signed in, the console would load)
    assert framed.url.startswith("chrome-error://"), framed.url
    assert framed.query_selector("#_pages_content, [data-testid=login-username]") is None
