"""The administrator's page (/admin): users, departments, categories, rules, the API tokens (listed,
revoked, issued and shown once) and the search of the append-only audit log."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import admin_categories, admin_duty, admin_kit, admin_rules, admin_sessions, ids
from layouts.components import dropdown, field, panel

#: The tables of the page: (component id, title key), in display order.
SECTIONS = (
    (ids.ADMIN_DEPARTMENTS, "admin.departments"),
    (ids.ADMIN_CATEGORIES, "admin.categories"),
    (ids.ADMIN_RULES, "admin.rules"),
)
#: Longest text a filter of the audit search takes.
FILTER_CHARS = 128


def _button(label_key: str, component_id: str) -> html.Button:
    return html.Button(t(label_key), id=component_id, className="action-button action-file",
                       **{"data-testid": component_id})


def tokens_section() -> html.Section:
    """Every user's API tokens with a revoke button each, and the issue of a new token (shown once)."""
    issue = html.Div(
        [
            field("security.tokens.user", dropdown(id=ids.ADMIN_TOKENS_USER, searchable=True, clearable=True,
                                                         placeholder=t("security.tokens.pick_user")),
                   ids.ADMIN_TOKENS_USER),
            _button("security.tokens.issue", ids.ADMIN_TOKENS_ISSUE),
        ],
        className="field-row",
    )
    return panel(
        t("security.tokens.title"),
        [
            html.Div(id=ids.ADMIN_TOKENS_LIST, className="admin-table", **{"data-testid": ids.ADMIN_TOKENS_LIST}),
            issue,
            html.Div(id=ids.ADMIN_TOKENS_NEW, **{"data-testid": ids.ADMIN_TOKENS_NEW}),
            html.Div(id=ids.ADMIN_TOKENS_MESSAGE, role="status", **{"data-testid": ids.ADMIN_TOKENS_MESSAGE}),
            dcc.Store(id=ids.ADMIN_TOKENS_CHANGED, data=0),
        ],
        class_name="admin-panel admin-tokens-section",
        **{"data-testid": "admin-tokens-section"},
    )


def _text_filter(label_key: str, component_id: str) -> html.Label:
    return field(label_key, dcc.Input(id=component_id, type="search", maxLength=FILTER_CHARS,
                                       className="console-input"), component_id)


def audit_section() -> html.Section:
    """The audit-log search (user, action, target text, days) and its results, newest first, by page."""
    form = html.Div(
        [
            _text_filter("security.audit.user", ids.ADMIN_AUDIT_USER),
            _text_filter("security.audit.action", ids.ADMIN_AUDIT_ACTION),
            _text_filter("security.audit.target", ids.ADMIN_AUDIT_TARGET),
            field("security.audit.days", dcc.DatePickerRange(id=ids.ADMIN_AUDIT_RANGE, display_format="YYYY-MM-DD",
                                                              clearable=True), ids.ADMIN_AUDIT_RANGE),
            _button("security.audit.search", ids.ADMIN_AUDIT_SEARCH),
        ],
        className="field-row admin-audit-form",
    )
    return panel(t("security.audit.title"), [form, html.Div(id=ids.ADMIN_AUDIT, className="admin-table")],
                 class_name="admin-panel admin-audit-section", **{"data-testid": ids.ADMIN_AUDIT})


def users_section() -> html.Section:
    """The users, a page at a time, narrowed by a filter on username, name or grid code."""
    search = html.Div(dcc.Input(id=ids.ADMIN_USERS_FILTER, type="search", maxLength=FILTER_CHARS, debounce=True,
                                placeholder=t("admin.users_filter"), className="console-input"),
                      **{"data-testid": ids.ADMIN_USERS_FILTER})
    return panel(t("admin.users"), [search, html.Div(id=ids.ADMIN_USERS, className="admin-table")],
                 class_name="admin-panel", **{"data-testid": ids.ADMIN_USERS})


def layout(**_query: str) -> html.Div:
    """The admin view; the tables arrive through callbacks (on load and on refresh)."""
    return html.Div(
        [
            admin_kit.admin_nav("/admin"),  # the sub-pages: people, city, settings, import (issue 16)
            html.Div(html.Button(t("admin.refresh"), id=ids.ADMIN_REFRESH, className="admin-refresh"),
                     className="admin-head"),
            users_section(),
            *[panel(t(key), html.Div(id=cid, className="admin-table"), class_name="admin-panel",
                    **{"data-testid": cid}) for cid, key in SECTIONS],
            tokens_section(),
            admin_sessions.section(),
            audit_section(),
            admin_categories.section(),
            admin_rules.section(),
            admin_duty.section(),
        ],
        className="admin",
    )
