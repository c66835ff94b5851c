"""The console's alert inbox (告警研判): the open alerts filtered by level, sensor family and area, each
with acknowledge, silence-its-sensor and to-incident buttons and, once it has fired, a review choice
(confirmed, false alarm with its reason, exercise) (filled by callbacks/alert_inbox.py)."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, panel

#: The filters of the inbox: (component id, placeholder key).
FILTERS = (
    (ids.CONSOLE_ALERTS_LEVEL, "inbox.filter.level"),
    (ids.CONSOLE_ALERTS_FAMILY, "inbox.filter.family"),
    (ids.CONSOLE_ALERTS_AREA, "inbox.filter.area"),
)


def alert_inbox() -> html.Section:
    """The inbox panel: filters, the action outcome, the list."""
    filters = html.Div(
        [html.Div(dropdown(id=cid, placeholder=t(key), multi=cid != ids.CONSOLE_ALERTS_AREA, clearable=True),
                  className="console-filter", **{"data-testid": cid})
         for cid, key in FILTERS],
        className="console-filters",
    )
    return panel(
        t("inbox.title"),
        [filters,
         html.Div(id=ids.CONSOLE_ALERTS_MESSAGE, className="console-message", role="status",
                  **{"data-testid": ids.CONSOLE_ALERTS_MESSAGE}),
         html.Div(id=ids.CONSOLE_ALERTS, className="console-queue alert-inbox"),
         dcc.Store(id=ids.CONSOLE_ALERTS_RESULT, data=0)],
        class_name="console-inbox-panel",
    )
