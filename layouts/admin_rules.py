"""The alert-rules section of /admin (a part of the admin page, not a page): the rules with their
state, and an editor that takes a rule as YAML or JSON text (DESIGN §5), switches it on or off, or
deletes it. A rule that does not validate is refused with the field named."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, panel

#: What the editor shows for a new rule: the contract example of DESIGN §5.
TEMPLATE = """id: my-rule
name: {zh: 新规则, en: New rule}
applies_to: {kinds: [gas_pressure]}
condition: {type: threshold, op: ">", levels: {yellow: 0.40, orange: 0.42, red: 0.45}}
for: 2m
clear: {op: "<", value: 0.38}
incident: {category: L01, auto_create: [red, orange]}
labels: {family: lifeline}
"""


def section() -> html.Section:
    """The rule list and editor."""
    editor = html.Div(
        [
            html.Div(dropdown(id=ids.ADMIN_RULES_PICK, placeholder=t("admin.rules.pick"), searchable=True,
                                  clearable=True), **{"data-testid": ids.ADMIN_RULES_PICK}),
            html.Div(dcc.Textarea(id=ids.ADMIN_RULES_TEXT, value=TEMPLATE, className="admin-rules-text",
                                  spellCheck=False), **{"data-testid": ids.ADMIN_RULES_TEXT}),
            html.Div(
                [
                    dcc.Checklist(id=ids.ADMIN_RULES_ENABLED, value=["on"],
                                  options=[{"label": t("admin.rules.enabled"), "value": "on"}]),
                    html.Button(t("admin.rules.save"), id=ids.ADMIN_RULES_SAVE, className="action-button action-file",
                                **{"data-testid": ids.ADMIN_RULES_SAVE}),
                    html.Button(t("admin.rules.delete"), id=ids.ADMIN_RULES_DELETE, className="action-button",
                                **{"data-testid": ids.ADMIN_RULES_DELETE}),
                ],
                className="field-row",
            ),
            html.Div(id=ids.ADMIN_RULES_MESSAGE, role="status", className="admin-rules-message",
                     **{"data-testid": ids.ADMIN_RULES_MESSAGE}),
        ],
        className="admin-rules-editor",
    )
    return panel(
        t("admin.rules.title"),
        [html.Div(id=ids.ADMIN_RULES_LIST, className="admin-table", **{"data-testid": ids.ADMIN_RULES_LIST}),
         editor, dcc.Store(id=ids.ADMIN_RULES_CHANGED, data=0)],
        class_name="admin-panel admin-rules-section",
        **{"data-testid": "admin-rules-section"},
    )
