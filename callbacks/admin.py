"""Admin-page callbacks: tables of users, departments, categories and rules; the API tokens (list,
revoke, issue a new one and show it once); the audit-log search, newest first, by page. Password hashes
and token hashes are never read for display."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from alerts.queries import all_rules
from callbacks.common import uow
from callbacks.pagekit import DASH, clicked_id, local_time, name_of, signed_in
from data.accounts import AuditQuery, TokenNotFound, issue_token, list_tokens, revoke_token, search_audit, user_by_name
from data.queries import active_users, all_categories, all_departments, users_page
from i18n import current_lang, t
from layouts import ids
from layouts.components import badge, empty, table
from settings import get_settings

#: How many audit rows the page shows, newest first.
AUDIT_ROWS = 50
#: How many users a page of the users table shows (a city has a grid worker per grid: thousands).
USER_ROWS = 30
DETAIL_CHARS = 120


def _headers(*keys: str) -> list[str]:
    return [t(f"admin.col.{k}") for k in keys]


def _table(keys: tuple[str, ...], rows: list[list[Any]], testid: str) -> Any:
    if not rows:
        return empty()
    return table(_headers(*keys), rows, row_testid=testid)


def _yes_no(flag: bool) -> str:
    return t("admin.yes") if flag else t("admin.no")


def users_table(session: Session, text: str | None = None, page: int = 0) -> Any:
    """One page (USER_ROWS) of the users whose username, name or home grid code contains ``text``, by
    username: role, grid and department (never the password hash), with the pager."""
    listed = users_page(session, text, page, USER_ROWS)
    rows, page, pages, total = listed.rows, listed.page, listed.pages, listed.total
    found = _table(
        ("username", "display_name", "role", "grid", "department", "active"),
        [[r.username, r.display_name, t(f"role.{r.role}"), r.code or DASH,
          name_of(r.Department) if r.Department is not None else DASH, _yes_no(r.active)] for r in rows],
        "admin-user-row",
    )
    return html.Div([found, _pager(ids.ADMIN_USERS_PAGE, "admin-users", page, pages, total)]) if rows else found


def departments_table(session: Session) -> Any:
    """The responsible departments."""
    rows = all_departments(session)
    return _table(("code", "name_zh", "name_en"), [[d.code, d.name_zh, d.name_en] for d in rows],
                  "admin-department-row")


def categories_table(session: Session) -> Any:
    """Incident categories with their department and time limits."""
    rows = [(c, c.department) for c in all_categories(session)]
    return _table(
        ("code", "name_zh", "name_en", "kind", "department", "handle_hours", "close_hours"),
        [[c.code, c.name_zh, c.name_en, t(f"admin.kind.{c.kind}"), name_of(d), f"{c.handle_hours:g}",
          f"{c.close_hours:g}"] for c, d in rows],
        "admin-category-row",
    )


def _rule_name(body: dict[str, Any]) -> str:
    name = body.get("name") if isinstance(body, dict) else None
    if isinstance(name, dict):
        return str(name.get(current_lang()) or name.get("zh") or name.get("en") or DASH)
    return str(name) if name else DASH


def rules_table(session: Session) -> Any:
    """Alert rules: id, name, whether enabled, where they come from."""
    rows = all_rules(session)
    return _table(("rule_id", "name", "enabled", "rule_source"),
                  [[r.id, _rule_name(r.body), _yes_no(r.enabled), r.source] for r in rows], "admin-rule-row")


def _detail(detail: dict[str, Any] | None) -> str:
    if not detail:
        return DASH
    text = json.dumps(detail, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def _local_day(value: str | None, days_after: int = 0) -> datetime | None:
    """Local midnight of a picked day (``YYYY-MM-DD…``), ``days_after`` days later; None when none."""
    if not value:
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=days_after), time(), tzinfo=get_settings().zone)


def audit_query(user: str | None = None, action: str | None = None, target: str | None = None,
                start: str | None = None, end: str | None = None) -> AuditQuery:
    """The search of the form's fields; the picked days are local and both inclusive."""
    return AuditQuery(user=user or "", action=action or "", target=target or "", since=_local_day(start),
                      until=_local_day(end, 1))


#: The pager's buttons: (which, arrow).
PAGER = {"prev": "‹", "next": "›"}


def _pager(kind: str, testid: str, page: int, pages: int, total: int) -> html.Div:
    """‹ page n of m, total rows › — its buttons are pattern-matching ids ``{"type": kind, "page": n}``."""
    def button(which: str, to: int, disabled: bool) -> html.Button:
        return html.Button(PAGER[which], id={"type": kind, "page": to}, disabled=disabled,
                           title=t(f"pager.{which}"), className="admin-refresh",
                           **{"data-testid": f"{testid}-page-{which}"})

    return html.Div(
        [button("prev", page - 1, page <= 0),
         html.Span(t("pager.page", page=page + 1, pages=pages, total=total),
                   **{"data-testid": f"{testid}-count"}),
         button("next", page + 1, page + 1 >= pages)],
        className="field-row admin-audit-pager",
    )


def audit_table(session: Session, query: AuditQuery | None = None, page: int = 0) -> Any:
    """One page of the audit search (AUDIT_ROWS rows, newest first): when, who, what, on what, from
    where, with the pager."""
    query = query or AuditQuery()
    found = search_audit(session, query, limit=AUDIT_ROWS, offset=max(page, 0) * AUDIT_ROWS)
    if not found.rows:
        return empty()
    pages = -(-found.total // AUDIT_ROWS)
    rows = _table(
        ("at", "user", "action", "target", "ip", "detail"),
        [[local_time(a.at, "%Y-%m-%d %H:%M:%S"), username or DASH, a.action, a.target or DASH, a.ip or DASH,
          _detail(a.detail)] for a, username in found.rows],
        "admin-audit-row",
    )
    return html.Div([rows, _pager(ids.ADMIN_AUDIT_PAGE, "admin-audit", page, pages, found.total)])


def _pressed_page() -> int:
    """The page a pager button asks for when one triggered the callback, else the first page."""
    if not isinstance(ctx.triggered_id, dict):
        return 0
    pressed = clicked_id()
    if pressed is None:
        raise PreventUpdate  # the pager was re-rendered, not clicked
    return int(pressed["page"])


AUDIT_FILTERS = (
    State(ids.ADMIN_AUDIT_USER, "value"),
    State(ids.ADMIN_AUDIT_ACTION, "value"),
    State(ids.ADMIN_AUDIT_TARGET, "value"),
    State(ids.ADMIN_AUDIT_RANGE, "start_date"),
    State(ids.ADMIN_AUDIT_RANGE, "end_date"),
)


@callback(
    Output(ids.ADMIN_DEPARTMENTS, "children"),
    Output(ids.ADMIN_CATEGORIES, "children"),
    Output(ids.ADMIN_RULES, "children"),
    Output(ids.ADMIN_AUDIT, "children"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
    *AUDIT_FILTERS,
)
def show_admin(_refresh: Any, *filters: str | None) -> tuple[Any, ...]:
    """Every admin table but the users, when the page opens and on refresh (the audit log as the form
    searches it)."""
    with uow() as session:
        return (departments_table(session), categories_table(session),
                rules_table(session), audit_table(session, audit_query(*filters)))


@callback(
    Output(ids.ADMIN_USERS, "children"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
    Input(ids.ADMIN_USERS_FILTER, "value"),
    Input({"type": ids.ADMIN_USERS_PAGE, "page": ALL}, "n_clicks"),
)
def show_users(_refresh: Any, text: str | None, _pages: Any) -> Any:
    """A page of the users table: the first as the filter changes, the one a pager button names."""
    page = _pressed_page()
    with uow() as session:
        return users_table(session, text, page)


@callback(
    Output(ids.ADMIN_AUDIT, "children", allow_duplicate=True),
    Input(ids.ADMIN_AUDIT_SEARCH, "n_clicks"),
    Input(ids.ADMIN_AUDIT_USER, "n_submit"),
    Input(ids.ADMIN_AUDIT_ACTION, "n_submit"),
    Input(ids.ADMIN_AUDIT_TARGET, "n_submit"),
    Input({"type": ids.ADMIN_AUDIT_PAGE, "page": ALL}, "n_clicks"),
    *AUDIT_FILTERS,
    prevent_initial_call=True,
)
def search_audit_log(_search: Any, _user_enter: Any, _action_enter: Any, _target_enter: Any, _pages: Any,
                     *filters: str | None) -> Any:
    """The first page of a search (button or Enter), or the page a pager button names."""
    page = _pressed_page()
    with uow() as session:
        return audit_table(session, audit_query(*filters), page)


# --- API tokens ---------------------------------------------------------------------------------


def _token_state(revoked_at: datetime | None) -> Any:
    if revoked_at is None:
        return badge(t("security.tokens.active"), "#3fb950")
    return badge(t("security.tokens.revoked", at=local_time(revoked_at)), "#6e7681")


def tokens_table(session: Session) -> Any:
    """Every user's tokens, newest first: id, user, role, created, last used, state, a revoke button."""
    rows = list_tokens(session, signed_in())
    return _table(
        ("token_id", "user", "role", "created", "last_used", "state", "revoke"),
        [[str(r.id), r.user.username, t(f"role.{r.user.role}"), local_time(r.created_at), local_time(r.last_used_at),
          _token_state(r.revoked_at),
          html.Button(t("security.tokens.revoke"), id={"type": ids.ADMIN_TOKENS_REVOKE, "id": r.id},
                      className="admin-refresh") if r.revoked_at is None else DASH]
         for r in rows],
        "admin-token-row",
    )


@callback(
    Output(ids.ADMIN_TOKENS_LIST, "children"),
    Output(ids.ADMIN_TOKENS_USER, "options"),
    Input(ids.ADMIN_TOKENS_CHANGED, "data"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
)
def show_tokens(_changed: Any, _refresh: Any) -> tuple[Any, list[dict[str, str]]]:
    """The tokens table and the active users a token may be issued for."""
    with uow() as session:
        users = active_users(session)
        options = [{"label": f"{u.username} ({t(f'role.{u.role}')})", "value": u.username} for u in users]
        return tokens_table(session), options


def _message(text: str, ok: bool) -> html.Div:
    return html.Div(text, className="msg msg-ok" if ok else "msg msg-error", role="status" if ok else "alert")


def _issue(username: str | None) -> tuple[Any, Any]:
    """Issue a token for ``username``: (message, the token shown once)."""
    with uow() as session:
        user = user_by_name(session, username or "")
        if user is None:
            return _message(t("security.tokens.no_user"), False), None
        token = issue_token(session, user, actor_id=signed_in().id)
    shown = html.Div([html.Div(t("security.tokens.once", user=user.username)),
                      html.Code(token, className="token-value", **{"data-testid": "admin-tokens-value"})],
                     className="msg msg-ok")
    return _message(t("security.tokens.issued", user=user.username), True), shown


def _revoke(token_id: int) -> Any:
    """Revoke token ``token_id``: the message."""
    try:
        with uow() as session:
            revoke_token(session, token_id, signed_in())
    except TokenNotFound:
        return _message(t("security.tokens.not_found", id=token_id), False)
    return _message(t("security.tokens.revoked_now", id=token_id), True)


@callback(
    Output(ids.ADMIN_TOKENS_MESSAGE, "children"),
    Output(ids.ADMIN_TOKENS_NEW, "children"),
    Output(ids.ADMIN_TOKENS_CHANGED, "data"),
    Input(ids.ADMIN_TOKENS_ISSUE, "n_clicks"),
    Input({"type": ids.ADMIN_TOKENS_REVOKE, "id": ALL}, "n_clicks"),
    State(ids.ADMIN_TOKENS_USER, "value"),
    State(ids.ADMIN_TOKENS_CHANGED, "data"),
    prevent_initial_call=True,
)
def change_tokens(_issue_clicks: Any, _revoke_clicks: Any, username: str | None,
                  changed: int | None) -> tuple[Any, Any, int]:
    """Issue a token for the picked user (shown once, here only), or revoke the token whose button was
    pressed; either way the list reloads."""
    if ctx.triggered_id == ids.ADMIN_TOKENS_ISSUE:
        message, shown = _issue(username)
    else:
        pressed = clicked_id()
        if pressed is None:
            raise PreventUpdate  # the revoke buttons were re-rendered, not clicked
        message, shown = _revoke(int(pressed["id"])), None
    return message, shown, (changed or 0) + 1
