"""Worker-page callbacks: the grid worker's tasks as cards (most urgent deadline first) with
start/resolve (note and photo), and the patrol report (巡查上报) with its category, note, photo and
location (the device's, or a tap on a small offline map of the worker's grid). Plain HTML except the
map, which is only sent when the patrol form is opened."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
import plotly.graph_objects as go
import shapely
from dash import (
    ALL,
    MATCH,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from callbacks.common import uow
from callbacks.dispatchkit import run_work, small_map, zoom_for
from callbacks.pagekit import (
    DASH,
    Outcome,
    clicked_id,
    fingerprint,
    local_time,
    name_of,
    outcome_view,
    refusal_message,
    signed_in,
)
from data.models import Incident
from data.queries import city_geometry, grid_geometry
from dispatch import joint, photos
from dispatch.categories import reportable_categories
from dispatch.service import apply_action, create_incident, tasks_for_worker
from dispatch.sla import CARD_NONE
from dispatch.uploads import upload_photo
from dispatch.workflow import Action, available_actions
from i18n import t
from layouts import ids
from layouts.components import CARD_COLOURS, badge, empty
from layouts.dispatch_parts import photo_picker

#: The buttons a task card can carry, in order.
CARD_ACTIONS = (Action.START, Action.RESOLVE)
DEADLINE_FORMAT = "%m-%d %H:%M"
#: Taps on the patrol map land on an invisible lattice of this many points a side (Scattermap only
#: reports clicks on points); over a unit grid that is a few metres apart.
LATTICE = 28
MAP_HEIGHT_PX = 240
COORD_DIGITS = 6
TITLE_CHARS = 40


def _place(incident: Incident) -> str:
    grid = incident.grid.code if incident.grid is not None else None
    parts = [p for p in (incident.address, grid) if p]
    return " · ".join(parts) if parts else DASH


def task_card(incident: Incident, role: str) -> html.Article:
    """One task (``data-testid=task-card``): what and where, the deadline in its card colour, buttons;
    a resolvable task has a note field and a photo button."""
    colour = CARD_COLOURS.get(incident.card, CARD_COLOURS[CARD_NONE])
    allowed = set(available_actions(role, incident.state))
    # a joint incident (lead and assisting departments): the grid worker works the lead's task, so once that
    # is resolved the card waits for the assisting departments instead of offering resolve again
    lead = next((task for task in joint.loaded_tasks(incident) if task.role == joint.ROLE_LEAD), None)
    waiting = lead is not None and lead.state == joint.TASK_RESOLVED
    actions = [] if waiting else [a for a in CARD_ACTIONS if a in allowed]
    resolve_fields = None
    if Action.RESOLVE in actions:
        resolve_fields = html.Div([
            html.Label(
                [html.Span(t("worker.note"), className="field-label"),
                 dcc.Textarea(id={"type": ids.WORKER_NOTE, "id": incident.id}, className="worker-note",
                              maxLength=2000, persistence=True, persistence_type="memory")],
                className="field",
            ),
            photo_picker({"type": ids.WORKER_PHOTO, "id": incident.id}, "worker.photo", "worker-photo"),
            html.Img(id={"type": ids.WORKER_PHOTO_PREVIEW, "id": incident.id}, className="photo-preview", alt=""),
            dcc.Store(id={"type": ids.WORKER_PHOTO_DATA, "id": incident.id}),
        ])
    buttons = [
        html.Button(t(f"action.{a}"), id={"type": ids.WORKER_ACTION, "id": incident.id, "action": a.value},
                    className=f"worker-button worker-{a.value}", **{"data-testid": f"worker-{a.value}"})
        for a in actions
    ]
    return html.Article(
        [
            html.Div([html.Span(incident.code, className="task-code"),
                      badge(t(f"state.{incident.state}"), colour)], className="task-head"),
            html.H2(incident.title, className="task-title"),
            html.Div(name_of(incident.category), className="task-category"),
            html.Div(_place(incident), className="task-place"),
            html.Div(
                [html.Span(t("worker.deadline"), className="task-deadline-label"),
                 html.Span(local_time(incident.handle_deadline, DEADLINE_FORMAT),
                           className="task-deadline-time"),
                 html.Span(t(f"card.{incident.card}"), className="task-deadline-card")],
                className=f"task-deadline card-{incident.card}",
                style={"--card": colour},
            ),
            resolve_fields,
            html.Div(t("joint.worker_waiting"), className="task-waiting",
                     **{"data-testid": "task-waiting"}) if waiting else None,
            html.Div(buttons, className="task-buttons") if buttons else None,
        ],
        className=f"task-card card-{incident.card}",
        style={"--card": colour},
        **{"data-testid": "task-card"},
    )


@callback(
    Output(ids.WORKER_TASKS, "children"),
    Output(ids.WORKER_VERSIONS, "data"),
    Output(ids.WORKER_TASKS_SHOWN, "data"),
    Input(ids.WORKER_REFRESH, "n_clicks"),
    Input(ids.WORKER_TICK, "n_intervals"),
    Input(ids.WORKER_RESULT, "data"),
    State(ids.WORKER_TASKS_SHOWN, "data"),
)
def show_tasks(_refresh: Any, _tick: Any, _result: Any, shown: str | None = None) -> tuple[Any, Any, Any]:
    """My tasks, the most urgent deadline first, the version of each for the buttons, and the
    fingerprint of what was drawn. Unchanged tasks are left as they are (``shown``), so the photo a
    worker picked on a card is not wiped by the minute's refresh."""
    user = signed_in()
    with uow() as session:
        tasks = tasks_for_worker(session, user)
        drawn = fingerprint(user.role, [(i.id, i.version, i.code, i.title, i.category_code, i.state, i.card,
                                         i.address, i.grid_id, str(i.handle_deadline)) for i in tasks])
        if shown is not None and drawn == shown:
            return no_update, no_update, no_update
        cards = [task_card(i, user.role) for i in tasks]
        versions = {str(i.id): i.version for i in tasks}
    if not cards:
        return empty("worker.none"), versions, drawn
    return [html.Div(t("worker.count", n=len(cards)), className="worker-count"), *cards], versions, drawn


def _state_for(component_type: str, incident_id: int) -> Any:
    """The value of the ``ALL`` state of type ``component_type`` on the card of ``incident_id``."""
    for fields in ctx.states_list:
        for field in fields if isinstance(fields, list) else [fields]:
            component_id = field.get("id")
            if (isinstance(component_id, dict) and component_id.get("type") == component_type
                    and component_id.get("id") == incident_id):
                return field.get("value")
    return None


def decode_photo(data_url: str | None) -> bytes | None:
    """The bytes of a ``data:`` URL from the browser (None when there is no photo)."""
    if not data_url:
        return None
    try:
        return base64.b64decode(data_url.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise photos.PhotoRejected("photo_corrupt", "the photo cannot be decoded") from None


def act_with_photo(incident_id: int, action: str, *, version: int, note: str | None,
                   photo: bytes | None) -> Outcome:
    """Apply ``action`` by the signed-in user with an optional photo, in one unit of work."""

    def work(session: Session, user: Any) -> str:
        attachments = []
        if photo is not None:
            # NotFound, nothing stored, for an incident out of the user's sight
            attachments.append(upload_photo(session, user, incident_id, photo).id)
        return apply_action(session, incident_id, action, version=version, actor=user,
                            note=(note or "").strip() or None, attachment_ids=attachments).code

    return run_work(work, lambda code: t("pages.action_done", action=t(f"action.{action}"), code=code))


@callback(
    Output(ids.WORKER_MESSAGE, "children"),
    Output(ids.WORKER_RESULT, "data"),
    Input({"type": ids.WORKER_ACTION, "id": ALL, "action": ALL}, "n_clicks"),
    State({"type": ids.WORKER_NOTE, "id": ALL}, "value"),
    State({"type": ids.WORKER_PHOTO_DATA, "id": ALL}, "data"),
    State(ids.WORKER_VERSIONS, "data"),
    State(ids.WORKER_RESULT, "data"),
    prevent_initial_call=True,
)
def take_task_action(_clicks: list[int | None], _notes: list[str | None], _photos: list[str | None],
                     versions: dict[str, int] | None, result: int | None) -> tuple[Any, Any]:
    """Start or resolve (with its note and photo) the task whose button was tapped, at the version its
    card showed."""
    clicked = clicked_id()
    if clicked is None or not versions or str(clicked["id"]) not in versions:
        raise PreventUpdate
    incident_id = int(clicked["id"])
    resolving = clicked["action"] == Action.RESOLVE
    try:
        photo = decode_photo(_state_for(ids.WORKER_PHOTO_DATA, incident_id)) if resolving else None
    except photos.PhotoRejected as exc:
        return outcome_view(Outcome(False, refusal_message(exc.code))), no_update
    outcome = act_with_photo(incident_id, clicked["action"], version=versions[str(incident_id)],
                             note=_state_for(ids.WORKER_NOTE, incident_id) if resolving else None, photo=photo)
    reload = (result or 0) + 1
    return outcome_view(outcome), reload if outcome.ok or outcome.stale else no_update


# --- photos are shrunk in the browser; the device's location comes from the browser too ----------

clientside_callback(
    ClientsideFunction("cityops_dispatch", "shrinkPhoto"),
    Output({"type": ids.WORKER_PHOTO_DATA, "id": MATCH}, "data"),
    Output({"type": ids.WORKER_PHOTO_PREVIEW, "id": MATCH}, "src"),
    Input({"type": ids.WORKER_PHOTO, "id": MATCH}, "contents"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("cityops_dispatch", "shrinkPhoto"),
    Output(ids.WORKER_PATROL_PHOTO_DATA, "data"),
    Output(ids.WORKER_PATROL_PREVIEW, "src"),
    Input(ids.WORKER_PATROL_PHOTO, "contents"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("cityops_dispatch", "locate"),
    Output(ids.WORKER_PATROL_POINT, "data"),
    Input(ids.WORKER_PATROL_LOCATE, "n_clicks"),
    prevent_initial_call=True,
)


# --- the patrol report --------------------------------------------------------------------------


def _home_area(session: Session, grid_id: int | None) -> shapely.Geometry | None:
    """The worker's grid, else the city (for an admin without a grid)."""
    if grid_id is not None:
        geom = grid_geometry(session, grid_id)
        if geom is not None:
            return shapely.from_wkb(geom)
    geom = city_geometry(session)
    return shapely.from_wkb(geom) if geom is not None else None


def patrol_map(area: shapely.Geometry | None) -> go.Figure:
    """A small offline map of ``area`` with a tappable lattice and an (empty) marker of the chosen point."""
    if area is None:
        return go.Figure()
    minx, miny, maxx, maxy = area.bounds
    pad_x, pad_y = (maxx - minx) * 0.15 or 0.002, (maxy - miny) * 0.15 or 0.002
    bounds = (minx - pad_x, miny - pad_y, maxx + pad_x, maxy + pad_y)
    figure = small_map(area, center=((minx + maxx) / 2, (miny + maxy) / 2), zoom=zoom_for(bounds),
                       height=MAP_HEIGHT_PX)
    xs = np.linspace(bounds[0], bounds[2], LATTICE).round(COORD_DIGITS)
    ys = np.linspace(bounds[1], bounds[3], LATTICE).round(COORD_DIGITS)
    lon, lat = np.meshgrid(xs, ys)
    figure.add_trace(go.Scattermap(lon=lon.ravel(), lat=lat.ravel(), mode="markers", hoverinfo="none",
                                   marker={"size": 16, "color": "rgba(0,0,0,0)"}))
    figure.add_trace(go.Scattermap(lon=[], lat=[], mode="markers", hoverinfo="none",
                                   marker={"size": 16, "color": CARD_COLOURS["red"]}))
    return figure


@callback(
    Output(ids.WORKER_PATROL_FORM, "hidden"),
    Output(ids.WORKER_PATROL_CATEGORY, "options"),
    Output(ids.WORKER_PATROL_MAP_BOX, "children"),
    Input(ids.WORKER_PATROL_TOGGLE, "n_clicks"),
    State(ids.WORKER_PATROL_FORM, "hidden"),
    prevent_initial_call=True,
)
def toggle_patrol(_clicks: int | None, hidden: bool | None) -> tuple[Any, ...]:
    """Open the patrol form (with its category choices and map, sent only now: the phone page loads
    no plotly until then) or close it."""
    if hidden is False:
        return True, no_update, no_update
    user = signed_in()
    with uow() as session:
        options = [{"label": f"{c.code} {name_of(c)}", "value": c.code} for c in reportable_categories(session)]
        figure = patrol_map(_home_area(session, user.grid_id))
    graph = dcc.Graph(id=ids.WORKER_PATROL_MAP, figure=figure, config={"displayModeBar": False, "scrollZoom": True})
    return False, options, graph


@callback(
    Output(ids.WORKER_PATROL_POINT, "data", allow_duplicate=True),
    Input(ids.WORKER_PATROL_MAP, "clickData"),
    prevent_initial_call=True,
)
def tap_map(click: dict[str, Any] | None) -> dict[str, Any]:
    """The point tapped on the patrol map."""
    points = (click or {}).get("points") or []
    if not points or "lon" not in points[0]:
        raise PreventUpdate
    return {"lon": round(float(points[0]["lon"]), COORD_DIGITS), "lat": round(float(points[0]["lat"]), COORD_DIGITS),
            "source": "map"}


@callback(
    Output(ids.WORKER_PATROL_WHERE, "children"),
    Output(ids.WORKER_PATROL_MAP, "figure", allow_duplicate=True),
    Input(ids.WORKER_PATROL_POINT, "data"),
    prevent_initial_call=True,
)
def show_point(point: dict[str, Any] | None) -> tuple[str, Any]:
    """Say where the report will be placed, and mark it on the map (a Patch of the marker only)."""
    if not point or point.get("error"):
        reason = (point or {}).get("error") or "none"
        return t(f"worker.patrol.locate_{'denied' if reason == 'denied' else 'failed'}"), no_update
    marker = Patch()
    marker["data"][1]["lon"] = [point["lon"]]
    marker["data"][1]["lat"] = [point["lat"]]
    where = t(f"worker.patrol.at_{'device' if point.get('source') == 'device' else 'map'}",
              lon=f"{point['lon']:.5f}", lat=f"{point['lat']:.5f}")
    return where, marker


@callback(
    Output(ids.WORKER_MESSAGE, "children", allow_duplicate=True),
    Output(ids.WORKER_PATROL_FORM, "hidden", allow_duplicate=True),
    Output(ids.WORKER_PATROL_NOTE, "value"),
    Output(ids.WORKER_PATROL_PHOTO_DATA, "data", allow_duplicate=True),
    Output(ids.WORKER_PATROL_PREVIEW, "src", allow_duplicate=True),
    Input(ids.WORKER_PATROL_SUBMIT, "n_clicks"),
    State(ids.WORKER_PATROL_CATEGORY, "value"),
    State(ids.WORKER_PATROL_NOTE, "value"),
    State(ids.WORKER_PATROL_PHOTO_DATA, "data"),
    State(ids.WORKER_PATROL_POINT, "data"),
    prevent_initial_call=True,
)
def submit_patrol(clicks: int | None, category: str | None, note: str | None, photo: str | None,
                  point: dict[str, Any] | None) -> tuple[Any, ...]:
    """Report what the worker found: a new incident of source ``patrol`` with its photo."""
    if not clicks:
        raise PreventUpdate
    refused = None
    if not category:
        refused = "category_required"
    elif not point or point.get("lon") is None:
        refused = "location_required"
    if refused is not None:
        return outcome_view(Outcome(False, refusal_message(refused))), no_update, no_update, no_update, no_update
    outcome = report_patrol(category, note, photo, point)  # type: ignore[arg-type]
    if not outcome.ok:
        return outcome_view(outcome), no_update, no_update, no_update, no_update
    return outcome_view(outcome), True, "", None, ""


def report_patrol(category: str, note: str | None, photo: str | None, point: dict[str, Any]) -> Outcome:
    """Create the patrol report in one unit of work; a refusal (bad photo, outside the city) writes nothing."""
    text = (note or "").strip()

    def work(session: Session, user: Any) -> str:
        data = decode_photo(photo)
        incident = create_incident(
            session, category_code=category, source="patrol",
            title=(text.splitlines()[0][:TITLE_CHARS] if text else "") or t("worker.patrol.title"),
            description=text or None, lon=float(point["lon"]), lat=float(point["lat"]), actor=user, inside_city=True,
        )
        if data is not None:
            upload_photo(session, user, incident.id, data, history_id=incident.history[-1].id)
        return incident.code

    return run_work(work, lambda code: t("worker.patrol.done", code=code))
