"""The grid worker's phone page (/worker): my tasks as large cards, sorted by deadline, with
accept/start and resolve (note and photo) buttons, and the patrol report (巡查上报): category, note,
photo, and the location from the device or a tap on a small offline map. Phone-first: plain HTML,
photos shrunk in the browser before they are sent, the map only when the form is opened."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown
from layouts.dispatch_parts import photo_picker

#: How often the task list reloads by itself (ms); typed notes survive a reload (persistence).
TASKS_REFRESH_MS = 60_000


def patrol_form() -> html.Section:
    """The patrol report form (hidden until the worker opens it)."""
    return html.Section(
        [
            html.H2(t("worker.patrol.title"), className="patrol-title"),
            html.Label([html.Span(t("worker.patrol.category"), className="field-label"),
                        html.Div(dropdown(id=ids.WORKER_PATROL_CATEGORY, clearable=False, searchable=True,
                                              placeholder=t("worker.patrol.category_pick")),
                                 **{"data-testid": ids.WORKER_PATROL_CATEGORY})], className="field"),
            html.Label([html.Span(t("worker.note"), className="field-label"),
                        html.Div(dcc.Textarea(id=ids.WORKER_PATROL_NOTE, className="worker-note", maxLength=2000),
                                 **{"data-testid": ids.WORKER_PATROL_NOTE})], className="field"),
            photo_picker(ids.WORKER_PATROL_PHOTO, "worker.photo", ids.WORKER_PATROL_PHOTO),
            html.Img(id=ids.WORKER_PATROL_PREVIEW, className="photo-preview", alt=""),
            html.Div(
                [html.Button(t("worker.patrol.locate"), id=ids.WORKER_PATROL_LOCATE, className="worker-button",
                             **{"data-testid": ids.WORKER_PATROL_LOCATE}),
                 html.Span(t("worker.patrol.or_tap"), className="patrol-or")],
                className="patrol-locate",
            ),
            html.Div(id=ids.WORKER_PATROL_MAP_BOX, className="patrol-map", **{"data-testid": ids.WORKER_PATROL_MAP}),
            html.Div(t("worker.patrol.no_location"), id=ids.WORKER_PATROL_WHERE, className="patrol-where",
                     **{"data-testid": ids.WORKER_PATROL_WHERE}),
            html.Button(t("worker.patrol.submit"), id=ids.WORKER_PATROL_SUBMIT,
                        className="worker-button worker-resolve patrol-submit",
                        **{"data-testid": ids.WORKER_PATROL_SUBMIT}),
            dcc.Store(id=ids.WORKER_PATROL_PHOTO_DATA),
            dcc.Store(id=ids.WORKER_PATROL_POINT),
        ],
        id=ids.WORKER_PATROL_FORM,
        className="patrol-form",
        hidden=True,
    )


def layout(**_query: str) -> html.Div:
    """The worker view; the task cards and the patrol form's choices arrive through callbacks."""
    return html.Div(
        [
            html.Div(
                [
                    html.H1(t("worker.title"), className="worker-title"),
                    html.Button(t("worker.patrol.open"), id=ids.WORKER_PATROL_TOGGLE, className="worker-refresh",
                                **{"data-testid": ids.WORKER_PATROL_TOGGLE}),
                    html.Button(t("worker.refresh"), id=ids.WORKER_REFRESH, className="worker-refresh",
                                **{"data-testid": ids.WORKER_REFRESH}),
                ],
                className="worker-head",
            ),
            html.Div(id=ids.WORKER_MESSAGE, className="worker-message", role="status",
                     **{"data-testid": ids.WORKER_MESSAGE}),
            patrol_form(),
            html.Div(id=ids.WORKER_TASKS, className="worker-tasks"),
            dcc.Store(id=ids.WORKER_VERSIONS),
            dcc.Store(id=ids.WORKER_TASKS_SHOWN),
            dcc.Store(id=ids.WORKER_RESULT, data=0),
            dcc.Interval(id=ids.WORKER_TICK, interval=TASKS_REFRESH_MS),
        ],
        className="worker-page",
    )
