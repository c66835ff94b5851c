"""The administrator's page (/admin): users, departments, categories, rules and the latest audit
log rows (read-only for now)."""

from __future__ import annotations

from dash import html

from i18n import t
from layouts import admin_categories, admin_rules, ids
from layouts.components import panel

#: The tables of the page: (component id, title key), in display order.
SECTIONS = (
    (ids.ADMIN_USERS, "admin.users"),
    (ids.ADMIN_DEPARTMENTS, "admin.departments"),
    (ids.ADMIN_CATEGORIES, "admin.categories"),
    (ids.ADMIN_RULES, "admin.rules"),
    (ids.ADMIN_AUDIT, "admin.audit"),
)


def layout(**_query: str) -> html.Div:
    """The admin view; the tables arrive through a callback (on load and on refresh)."""
    return html.Div(
        [
            html.Div(html.Button(t("admin.refresh"), id=ids.ADMIN_REFRESH, className="admin-refresh"),
                     className="admin-head"),
            *[panel(t(key), html.Div(id=cid, className="admin-table"), class_name="admin-panel",
                    **{"data-testid": cid}) for cid, key in SECTIONS],
            admin_categories.section(),
            admin_rules.section(),
        ],
        className="admin",
    )
