"""Pieces the /admin sub-pages share (issue 16): the navigation between /admin and its sub-pages, a form
field with a pattern-matching id, an action button and the message line."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown

#: /admin and its sub-pages: (path, i18n key), in the order of the navigation.
ADMIN_PAGES = (("/admin", "nav.admin"), ("/admin/people", "nav.admin_people"), ("/admin/city", "nav.admin_city"),
               ("/admin/settings", "nav.admin_settings"), ("/admin/import", "nav.admin_import"),
               ("/admin/plans", "nav.admin_plans"), ("/admin/channels", "nav.admin_channels"))


def admin_nav(current: str) -> html.Nav:
    """Links to /admin and each sub-page; ``current`` (a path) is marked."""
    return html.Nav(
        [html.Span(dcc.Link(t(key), href=path, className="admin-nav-link" + (" active" if path == current else "")),
                   **{"data-testid": f"admin-nav-{path.rsplit('/', 1)[-1]}"}) for path, key in ADMIN_PAGES],
        id=ids.ADMIN_NAV, className="admin-nav field-row",
    )


def form_input(id_type: str, name: str, label_key: str, kind: str = "text", **props: Any) -> html.Label:
    """A labelled input whose id is ``{"type": id_type, "field": name}`` (``data-testid`` ``<id_type>-<name>``)."""
    return html.Label(
        [html.Span(t(label_key), className="field-label"),
         html.Div(dcc.Input(id={"type": id_type, "field": name}, type=kind, className="console-input", **props),
                  **{"data-testid": f"{id_type}-{name}"})],
        className="field",
    )


def form_dropdown(id_type: str, name: str, label_key: str, **props: Any) -> html.Label:
    """A labelled dropdown whose id is ``{"type": id_type, "field": name}``."""
    return html.Label(
        [html.Span(t(label_key), className="field-label"),
         html.Div(dropdown(id={"type": id_type, "field": name}, **props), **{"data-testid": f"{id_type}-{name}"})],
        className="field",
    )


def button(label_key: str, component_id: Any, *, primary: bool = False) -> html.Button:
    """An action button (``data-testid`` its id, or its pattern id's type and key)."""
    testid = component_id if isinstance(component_id, str) else "-".join(str(v) for v in component_id.values())
    return html.Button(t(label_key), id=component_id, className="action-button" + (" action-file" if primary else ""),
                       **{"data-testid": testid})


def message_line(component_id: str) -> html.Div:
    """Where a page says what became of its last action."""
    return html.Div(id=component_id, role="status", **{"data-testid": component_id})


def page(current: str, title_key: str, *children: Any) -> html.Div:
    """A sub-page of /admin: its navigation, its title, its sections."""
    return html.Div([admin_nav(current), html.H1(t(title_key), className="admin-title"), *children],
                    className="admin")
