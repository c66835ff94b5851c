"""/admin/plans (issue 18 §1): the emergency plans' editor — every plan with its versions, one version opened as
YAML, checked (a refusal names the field, as the API's 422 does), saved as the plan's next version, downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import current_lang, t
from layouts import ids
from layouts.admin_kit import button, message_line, page
from layouts.components import dropdown, empty, panel, table


def plan_label(plan: Any) -> str:
    """``id name`` of a plan (a ``PlanVersions``) in the reader's language."""
    return f"{plan.plan_id} {plan.name.get(current_lang(), '')}".strip()


def saved_by(version: Any) -> str:
    """Who saved a version (a ``PlanVersion``): the user, or where it came from (the plan files)."""
    return version.created_by or t(f"command_board2.source_{version.source}")


def plans_table(plans: Sequence[Any], saved_at: Sequence[str]) -> html.Div | html.Table:
    """Each plan (a ``PlanVersions``): id and name, scenario, its newest version, how many, when (``saved_at``, one
    local time per plan) and by whom the newest was saved."""
    if not plans:
        return empty("command_board2.no_plans")
    rows = []
    for plan, when in zip(plans, saved_at, strict=True):
        newest = plan.versions[0]
        rows.append([plan_label(plan), plan.scenario, f"v{newest.version}", str(len(plan.versions)), when,
                     saved_by(newest)])
    headers = [t("command_board2.plan"), t("command_board2.scenario"), t("command_board2.newest"),
               t("command_board2.versions"), t("command_board2.saved_at"), t("command_board2.saved_by")]
    return table(headers, rows, row_testid="admin_plans-row")


def layout(**_query: str) -> html.Div:
    """The list of plans, the pickers, the YAML editor and its actions (filled by ``callbacks.admin_plans``)."""
    pickers = html.Div([
        html.Label([html.Span(t("command_board2.plan"), className="field-label"),
                    html.Div(dropdown(id=ids.ADMIN_PLANS_PICK, clearable=False),
                             **{"data-testid": ids.ADMIN_PLANS_PICK})], className="field"),
        html.Label([html.Span(t("command_board2.version"), className="field-label"),
                    html.Div(dropdown(id=ids.ADMIN_PLANS_VERSION, clearable=False),
                             **{"data-testid": ids.ADMIN_PLANS_VERSION})], className="field"),
        button("command_board2.check", ids.ADMIN_PLANS_CHECK),
        button("command_board2.save", ids.ADMIN_PLANS_SAVE, primary=True),
        button("command_board2.download", ids.ADMIN_PLANS_DOWNLOAD),
    ], className="field-row")
    editor = panel(
        t("command_board2.document"),
        [html.P(t("command_board2.editor_help"), className="field-help"), pickers,
         html.Div(dcc.Textarea(id=ids.ADMIN_PLANS_TEXT, className="console-note admin-plans-text", spellCheck=False,
                               style={"width": "100%", "height": "60vh", "fontFamily": "monospace"}),
                  **{"data-testid": ids.ADMIN_PLANS_TEXT})],
        class_name="admin-panel", **{"data-testid": "admin_plans-editor"},
    )
    return page("/admin/plans", "nav.admin_plans",
                message_line(ids.ADMIN_PLANS_MESSAGE),
                panel(t("command_board2.plans"), html.Div(id=ids.ADMIN_PLANS_LIST), class_name="admin-panel",
                      **{"data-testid": ids.ADMIN_PLANS_LIST}),
                editor, dcc.Download(id=ids.ADMIN_PLANS_FILE), dcc.Store(id=ids.ADMIN_PLANS_CHANGED, data=0))
