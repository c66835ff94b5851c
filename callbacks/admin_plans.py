"""Callbacks of /admin/plans: the plans with their versions, a version opened in the editor, the edited YAML
checked or saved as the next version, the opened version downloaded — each through ``admin.plans`` (checked,
the save audited)."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from admin.plans import check_plan, plan_text, plan_versions, save_plan_text
from callbacks.admin_kit import done, options, refused
from callbacks.common import uow
from callbacks.pagekit import local_time, signed_in
from domain.errors import DomainError
from i18n import t
from layouts import ids
from layouts.admin_plans import plan_label, plans_table, saved_by


@callback(
    Output(ids.ADMIN_PLANS_LIST, "children"),
    Output(ids.ADMIN_PLANS_PICK, "options"),
    Output(ids.ADMIN_PLANS_PICK, "value"),
    Input(ids.ADMIN_PLANS_CHANGED, "data"),
    State(ids.ADMIN_PLANS_PICK, "value"),
)
def list_plans(_changed: Any, picked: str | None) -> tuple[Any, list[dict[str, str]], str | None]:
    """Every plan with its versions, and the plans to pick from (the one picked stays, else the first)."""
    with uow() as session:
        plans = plan_versions(session, signed_in())
    codes = [plan.plan_id for plan in plans]
    keep = picked if picked in codes else (codes[0] if codes else None)
    table = plans_table(plans, [local_time(plan.versions[0].created_at) for plan in plans])
    return table, options([(plan.plan_id, plan_label(plan)) for plan in plans]), keep


@callback(
    Output(ids.ADMIN_PLANS_VERSION, "options"),
    Output(ids.ADMIN_PLANS_VERSION, "value"),
    Input(ids.ADMIN_PLANS_PICK, "value"),
    Input(ids.ADMIN_PLANS_CHANGED, "data"),
)
def list_versions(plan_id: str | None, _changed: Any) -> tuple[list[dict[str, Any]], int | None]:
    """The versions of the picked plan, the newest first and opened."""
    if not plan_id:
        return [], None
    with uow() as session:
        plan = next((p for p in plan_versions(session, signed_in()) if p.plan_id == plan_id), None)
    if plan is None:
        return [], None
    labels = [{"label": f"v{v.version} · {local_time(v.created_at)} · {saved_by(v)}", "value": v.version}
              for v in plan.versions]
    return labels, plan.versions[0].version


@callback(
    Output(ids.ADMIN_PLANS_TEXT, "value"),
    Input(ids.ADMIN_PLANS_VERSION, "value"),
    State(ids.ADMIN_PLANS_PICK, "value"),
)
def open_version(version: int | None, plan_id: str | None) -> str:
    """The picked version's YAML in the editor."""
    if not plan_id or version is None:
        raise PreventUpdate
    with uow() as session:
        return plan_text(session, signed_in(), plan_id, version)


@callback(
    Output(ids.ADMIN_PLANS_MESSAGE, "children"),
    Output(ids.ADMIN_PLANS_CHANGED, "data"),
    Output(ids.ADMIN_PLANS_PICK, "value", allow_duplicate=True),
    Input(ids.ADMIN_PLANS_CHECK, "n_clicks"),
    Input(ids.ADMIN_PLANS_SAVE, "n_clicks"),
    State(ids.ADMIN_PLANS_TEXT, "value"),
    State(ids.ADMIN_PLANS_CHANGED, "data"),
    prevent_initial_call=True,
)
def check_or_save(_check: int | None, _save: int | None, text: str | None, changed: int | None) -> tuple[Any, ...]:
    """Check the edited YAML, or save it as the plan's next version (then the list reloads and opens it)."""
    if ctx.triggered_id not in (ids.ADMIN_PLANS_CHECK, ids.ADMIN_PLANS_SAVE) or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    try:
        with uow() as session:
            if ctx.triggered_id == ids.ADMIN_PLANS_CHECK:
                spec = check_plan(session, signed_in(), text)
                return done(t("command_board2.valid", plan=spec.id)), no_update, no_update
            saved = save_plan_text(session, signed_in(), text)
    except DomainError as exc:
        return refused(exc), no_update, no_update
    key = "command_board2.saved" if saved.created else "command_board2.unchanged"
    return done(t(key, plan=saved.plan_id, version=saved.version)), (changed or 0) + 1, saved.plan_id


@callback(
    Output(ids.ADMIN_PLANS_FILE, "data"),
    Input(ids.ADMIN_PLANS_DOWNLOAD, "n_clicks"),
    State(ids.ADMIN_PLANS_PICK, "value"),
    State(ids.ADMIN_PLANS_VERSION, "value"),
    prevent_initial_call=True,
)
def download(clicks: int | None, plan_id: str | None, version: int | None) -> dict[str, str]:
    """The opened version as a YAML file (``<plan>-v<version>.yaml``), as stored."""
    if not clicks or not plan_id or version is None:
        raise PreventUpdate
    with uow() as session:
        text = plan_text(session, signed_in(), plan_id, version)
    return {"content": text, "filename": f"{plan_id}-v{version}.yaml", "type": "application/x-yaml"}
