"""The category and calendar section of /admin (a part of the admin page, not a page): edit a category
— names, kind, department, handling and closing limits, per-severity limits, working hours — and the
working week and holidays the working-hours limits are counted in."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, panel

#: The text fields of the category form: (field, i18n key, input type).
TEXT_FIELDS = (("code", "admin.categories.code", "text"), ("name_zh", "admin.col.name_zh", "text"),
               ("name_en", "admin.col.name_en", "text"), ("handle_hours", "admin.col.handle_hours", "number"),
               ("close_hours", "admin.col.close_hours", "number"))
#: The severities with their own limits (normal uses the category's).
OVERRIDES = ("urgent", "critical")


def field_id(name: str) -> dict[str, str]:
    """The pattern-matching id of one form field."""
    return {"type": ids.ADMIN_CATEGORIES_FORM, "field": name}


def _input(name: str, label: str, kind: str) -> html.Label:
    return html.Label([html.Span(label, className="field-label"),
                       dcc.Input(id=field_id(name), type=kind, className="console-input", debounce=True)],
                      className="field")


def section() -> html.Section:
    """The editor of categories and of the working calendar."""
    severity_inputs = [
        _input(f"{severity}_{limit}", f"{t(f'severity.{severity}')} · {t(f'admin.col.{limit}')}", "number")
        for severity in OVERRIDES for limit in ("handle_hours", "close_hours")
    ]
    form = html.Div(
        [
            html.Div(dropdown(id=ids.ADMIN_CATEGORIES_PICK, placeholder=t("admin.categories.pick"),
                                  searchable=True, clearable=True), **{"data-testid": ids.ADMIN_CATEGORIES_PICK}),
            html.Div([_input(name, t(key), kind) for name, key, kind in TEXT_FIELDS], className="field-row"),
            html.Div(
                [html.Label([html.Span(t("admin.col.kind"), className="field-label"),
                             dropdown(id=field_id("kind"), clearable=False,
                                          options=[{"label": t(f"admin.kind.{k}"), "value": k}
                                                   for k in ("component", "event")])], className="field"),
                 html.Label([html.Span(t("admin.col.department"), className="field-label"),
                             dropdown(id=field_id("department"), clearable=False)], className="field"),
                 dcc.Checklist(id=field_id("working_hours"), className="field",
                               options=[{"label": t("admin.categories.working_hours"), "value": "yes"}])],
                className="field-row"),
            html.Div(severity_inputs, className="field-row"),
            html.Button(t("admin.categories.save"), id=ids.ADMIN_CATEGORIES_SAVE, className="action-button action-file",
                        **{"data-testid": ids.ADMIN_CATEGORIES_SAVE}),
        ],
        className="admin-categories-form",
    )
    calendar = html.Div(
        [
            html.Label([html.Span(t("admin.categories.week"), className="field-label"),
                        dcc.Textarea(id=ids.ADMIN_CATEGORIES_WEEK, className="console-note")], className="field"),
            html.Label([html.Span(t("admin.categories.holidays"), className="field-label"),
                        dcc.Textarea(id=ids.ADMIN_CATEGORIES_HOLIDAYS, className="console-note")], className="field"),
            html.Button(t("admin.categories.save_calendar"), id=ids.ADMIN_CATEGORIES_CAL_SAVE,
                        className="action-button", **{"data-testid": ids.ADMIN_CATEGORIES_CAL_SAVE}),
        ],
        className="field-row",
    )
    return panel(
        t("admin.categories.title"),
        [form, calendar, html.Div(id=ids.ADMIN_CATEGORIES_MESSAGE, role="status",
                                  **{"data-testid": ids.ADMIN_CATEGORIES_MESSAGE}),
         dcc.Store(id=ids.ADMIN_CATEGORIES_RESULT, data=0)],
        class_name="admin-panel admin-categories",
        **{"data-testid": "admin-categories"},
    )
