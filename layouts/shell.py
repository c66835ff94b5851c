"""The frame around every page: title bar, navigation, language switch, user, page container."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import LANGS, t
from layouts import ids


def shell(*, username: str | None, role: str | None, lang: str, nav: Sequence[tuple[str, str]],
          page_container: Any) -> html.Div:
    """The app frame; ``nav`` lists (path, i18n key) of the pages this user may open."""
    bar = [
        html.Div([html.Span(t("app.title"), className="brand"),
                  html.Span(t("app.city"), className="brand-city")], className="brand-box"),
        html.Nav([dcc.Link(t(key), href=path, className="nav-link") for path, key in nav], className="nav"),
        html.Div(
            [
                html.Span(id=ids.SHELL_CLOCK, className="clock"),
                *[html.A(t(f"lang.{code}"), href=f"/auth/lang/{code}", className="lang-link"
                         + (" active" if code == lang else "")) for code in LANGS],
                html.Span(f"{username} · {t('role.' + role)}" if username and role else "", className="user"),
                html.A(t("nav.logout"), href="/auth/logout", className="nav-link") if username else None,
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
