"""The frame around every page: title bar, navigation, language switch, user, page container."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import LANGS, t
from layouts import ids
from settings import get_settings

#: The locale each interface language formats dates and times in (the title-bar clock, ``assets/clock.js``).
LOCALES = {"zh": "zh-CN", "en": "en-US"}


def shell(*, username: str | None, role: str | None, lang: str, nav: Sequence[tuple[str, str]],
          page_container: Any, city: str | None = None) -> html.Div:
    """The app frame; ``nav`` lists (path, i18n key) of the pages this user may open; ``city`` is the name of
    the city in the database (none before its areas are imported). The clock shows the time
    in the display zone (``CITYOPS_TZ``) in ``lang``, whatever the browser's own zone and locale."""
    zone = get_settings().tz
    bar = [
        html.Div([html.Span(t("app.title"), className="brand"),
                  html.Span(city or "", className="brand-city")], className="brand-box"),
        html.Nav([dcc.Link(t(key), href=path, className="nav-link") for path, key in nav], className="nav"),
        html.Div(
            [
                html.Span(id=ids.SHELL_CLOCK, className="clock", title=zone,
                          **{"data-tz": zone, "data-lang": LOCALES.get(lang, lang), "data-testid": "clock"}),
                *[html.A(t(f"lang.{code}"), href=f"/auth/lang/{code}", className="lang-link"
                         + (" active" if code == lang else "")) for code in LANGS],
                html.A(f"{username} · {t('role.' + role)}", href="/account", title=t("account.title"),
                       className="user", **{"data-testid": "account-link"}) if username and role else None,
                html.Form(html.Button(t("nav.logout"), type="submit", className="nav-link logout-button"),
                          method="post", action="/auth/logout", className="logout-form") if username else None,
            ],
            className="bar-right",
        ),
    ]
    return html.Div(
        [html.Header(bar, className="topbar"), html.Main(page_container, className="page"),
         dcc.Interval(id=ids.SHELL_CLOCK_TICK, interval=1000)],
        className="app",
        lang=lang,
    )
