"""Admin-page callbacks: read-only tables of users, departments, categories, rules and the latest
audit log rows. Password hashes and tokens are never read for display."""

from __future__ import annotations

import json
from typing import Any

from dash import Input, Output, callback
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from callbacks.common import uow
from callbacks.pagekit import DASH, local_time, name_of
from data.models import AuditLog, Category, Department, Grid, Rule, User
from i18n import current_lang, t
from layouts import ids
from layouts.components import empty, table

#: How many audit rows the page shows, newest first.
AUDIT_ROWS = 50
DETAIL_CHARS = 120


def _headers(*keys: str) -> list[str]:
    return [t(f"admin.col.{k}") for k in keys]


def _table(keys: tuple[str, ...], rows: list[list[Any]], testid: str) -> Any:
    if not rows:
        return empty()
    return table(_headers(*keys), rows, row_testid=testid)


def _yes_no(flag: bool) -> str:
    return t("admin.yes") if flag else t("admin.no")


def users_table(session: Session) -> Any:
    """Users with role, grid and department (never the password hash)."""
    home = aliased(Grid)
    rows = session.execute(
        select(User.username, User.display_name, User.role, User.active, home.code, Department)
        .outerjoin(home, home.id == User.grid_id)
        .outerjoin(Department, Department.id == User.department_id)
        .order_by(User.username)
    ).all()
    return _table(
        ("username", "display_name", "role", "grid", "department", "active"),
        [[r.username, r.display_name, t(f"role.{r.role}"), r.code or DASH,
          name_of(r.Department) if r.Department is not None else DASH, _yes_no(r.active)] for r in rows],
        "admin-user-row",
    )


def departments_table(session: Session) -> Any:
    """The responsible departments."""
    rows = session.scalars(select(Department).order_by(Department.id)).all()
    return _table(("code", "name_zh", "name_en"), [[d.code, d.name_zh, d.name_en] for d in rows],
                  "admin-department-row")


def categories_table(session: Session) -> Any:
    """Incident categories with their department and time limits."""
    rows = session.execute(
        select(Category, Department).join(Department, Department.id == Category.department_id)
        .order_by(Category.code)
    ).all()
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
    rows = session.scalars(select(Rule).order_by(Rule.id)).all()
    return _table(("rule_id", "name", "enabled", "rule_source"),
                  [[r.id, _rule_name(r.body), _yes_no(r.enabled), r.source] for r in rows], "admin-rule-row")


def _detail(detail: dict[str, Any] | None) -> str:
    if not detail:
        return DASH
    text = json.dumps(detail, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def audit_table(session: Session) -> Any:
    """The newest audit log rows: when, who, what, on what, from where."""
    rows = session.execute(
        select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.user_id)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(AUDIT_ROWS)
    ).all()
    return _table(
        ("at", "user", "action", "target", "ip", "detail"),
        [[local_time(a.at, "%Y-%m-%d %H:%M:%S"), username or DASH, a.action, a.target or DASH, a.ip or DASH,
          _detail(a.detail)] for a, username in rows],
        "admin-audit-row",
    )


@callback(
    Output(ids.ADMIN_USERS, "children"),
    Output(ids.ADMIN_DEPARTMENTS, "children"),
    Output(ids.ADMIN_CATEGORIES, "children"),
    Output(ids.ADMIN_RULES, "children"),
    Output(ids.ADMIN_AUDIT, "children"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
)
def show_admin(_refresh: Any) -> tuple[Any, ...]:
    """Every admin table, when the page opens and on refresh."""
    with uow() as session:
        return (users_table(session), departments_table(session), categories_table(session),
                rules_table(session), audit_table(session))
