"""The operator console (/console): the incident queue with filters (state, card, category, grid,
department, source) and bulk actions, and the detail drawer of the selected incident — its facts,
deadlines and card, photos, proposed duplicate, history timeline, a small offline map focused on it,
and the actions allowed now (postpone with hours, merge into an original, dispatch with an assignee
override). A badge lists the handler's and the desk's notifications (督办, postponement requests)."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.alert_inbox import alert_inbox
from layouts.components import dropdown, empty, field, panel

#: How often the queue reloads (ms).
QUEUE_REFRESH_MS = 5000
#: The filters of the queue: (component id, placeholder key, searchable).
FILTERS = (
    (ids.CONSOLE_FILTER_STATE, "console.filter.state", False),
    (ids.CONSOLE_FILTER_CARD, "console.filter.card", False),
    (ids.CONSOLE_FILTER_CATEGORY, "console.filter.category", True),
    (ids.CONSOLE_FILTER_GRID, "console.filter.grid", True),
    (ids.CONSOLE_FILTER_DEPARTMENT, "console.filter.department", True),
    (ids.CONSOLE_FILTER_SOURCE, "console.filter.source", False),
)


def _filter(component_id: str, placeholder_key: str, searchable: bool) -> html.Div:
    return html.Div(
        dropdown(id=component_id, placeholder=t(placeholder_key), clearable=True, searchable=searchable),
        className="console-filter",
        **{"data-testid": component_id},
    )


def _action_form() -> html.Div:
    """Department and assignee (dispatch), hours (postpone), original (merge), note, the action
    buttons (filled by a callback) and the outcome message."""
    return html.Div(
        [
            html.Div(
                [
                    field("console.department", dropdown(id=ids.CONSOLE_DEPARTMENT, clearable=False),
                           ids.CONSOLE_DEPARTMENT),
                    field("console.assignee_override",
                           dropdown(id=ids.CONSOLE_ASSIGNEE, clearable=True, searchable=True,
                                        placeholder=t("console.assignee_auto")), ids.CONSOLE_ASSIGNEE),
                    # issue 17 §2: the assisting departments (协办), each with its own task
                    field("joint.assisting", dropdown(id=ids.CONSOLE_ASSISTING, multi=True, searchable=True,
                                                      placeholder=t("joint.assisting_none")), ids.CONSOLE_ASSISTING),
                ],
                id=ids.CONSOLE_DEPARTMENT_ROW,
                className="field-row",
                hidden=True,
            ),
            html.Div(
                [
                    field("console.hours", dcc.Input(id=ids.CONSOLE_HOURS, type="number", min=1, max=720, step=1,
                                                      className="console-input"), ids.CONSOLE_HOURS),
                    field("console.target", dcc.Input(id=ids.CONSOLE_TARGET, type="text", maxLength=40,
                                                       className="console-input"), ids.CONSOLE_TARGET),
                ],
                id=ids.CONSOLE_EXTRA_ROW,
                className="field-row",
            ),
            field("console.note", dcc.Textarea(id=ids.CONSOLE_NOTE, className="console-note", maxLength=2000),
                   ids.CONSOLE_NOTE),
            html.Div(id=ids.CONSOLE_ACTIONS, className="console-actions"),
        ],
        id=ids.CONSOLE_FORM,
        className="console-form",
        hidden=True,
    )


def _bulk_bar() -> html.Div:
    return html.Div(
        [html.Span(t("console.bulk"), className="field-label"),
         html.Div(id=ids.CONSOLE_BULK_BAR, className="console-actions")],
        className="console-bulk",
    )


def layout(incident: str | None = None, **_query: str) -> html.Div:
    """The console view; the queue, options, detail and map arrive through callbacks. ``?incident=ID``
    (the links from the big-screen map and the alert inbox) opens with that incident selected."""
    filters = html.Div(
        [*[_filter(cid, key, searchable) for cid, key, searchable in FILTERS],
         html.Button("0", id=ids.CONSOLE_NOTICE_BADGE, className="notice-badge", title=t("console.notices"),
                     **{"data-testid": ids.CONSOLE_NOTICE_BADGE})],
        className="console-filters",
    )
    notices = html.Div(
        [html.Div([html.Span(t("console.notices"), className="field-label"),
                   html.Button(t("console.notices_read"), id=ids.CONSOLE_NOTICE_READ, className="link-button")],
                  className="notices-head"),
         html.Div(id=ids.CONSOLE_NOTICES)],
        id=ids.CONSOLE_NOTICES_PANEL, className="notices", hidden=True,
    )
    return html.Div(
        [
            panel(t("console.queue"), [filters, notices, _bulk_bar(),
                                       html.Div(id=ids.CONSOLE_REPLICA_LAG, className="updated"),
                                       html.Div(id=ids.CONSOLE_QUEUE, className="console-queue")],
                  class_name="console-queue-panel"),
            alert_inbox(),
            panel(
                t("console.detail"),
                [
                    html.Div(empty("console.pick"), id=ids.CONSOLE_DETAIL, className="console-detail"),
                    html.Div(dcc.Graph(id=ids.CONSOLE_MAP, config={"displayModeBar": False},
                                       className="console-map"), id=ids.CONSOLE_MAP_BOX, hidden=True,
                             **{"data-testid": ids.CONSOLE_MAP}),
                    _action_form(),
                    html.Div(id=ids.CONSOLE_MESSAGE, className="console-message", role="status",
                             **{"data-testid": ids.CONSOLE_MESSAGE}),
                ],
                class_name="console-detail-panel",
            ),
            dcc.Store(id=ids.CONSOLE_BOOT, data=True),
            dcc.Store(id=ids.CONSOLE_SELECTED, data=int(incident) if incident and incident.isdigit() else None),
            dcc.Store(id=ids.CONSOLE_INCIDENT),
            dcc.Store(id=ids.CONSOLE_VERSIONS),
            dcc.Store(id=ids.CONSOLE_QUEUE_SHOWN),
            dcc.Store(id=ids.CONSOLE_RESULT, data=0),
            dcc.Interval(id=ids.CONSOLE_TICK, interval=QUEUE_REFRESH_MS),
        ],
        className="console",
    )
