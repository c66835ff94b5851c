"""Console callbacks: the filtered incident queue with bulk actions, the selected incident's detail
(facts, deadlines and card, photos, proposed duplicate, history timeline, a small map focused on it),
the workflow actions taken on it at the version the operator saw (postpone with hours, merge into an
original, dispatch with an assignee override), the caller's rating, and the notification badge."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import shapely
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from callbacks import joint_tasks  # issue 17 §2: lead and assisting departments' tasks
from callbacks.common import replica_notice, uow
from callbacks.dispatchkit import act_on_shown, run_work, small_map, zoom_for
from callbacks.pagekit import DASH, Outcome, clicked_id, fingerprint, local_time, name_of, outcome_view, signed_in
from data.models import Incident, IncidentHistory, IncidentState, Role
from data.queries import active_users, all_categories, all_departments, area_name, grid_codes
from dispatch import notifications, tiers
from dispatch.notification_reads import mark_notifications_read
from dispatch.service import (
    SATISFACTION,
    InvalidInput,
    NotFound,
    apply_action,
    attachment_to_dict,
    caller_to_dict,
    get_incident,
    list_incidents,
    rate_incident,
    visible_codes,
    visible_id_by_code,
)
from dispatch.sla import CARD_NONE, CARD_RED, CARD_YELLOW
from dispatch.workflow import OPEN_STATES, SOURCES, Action, available_actions, may
from i18n import t
from layouts import ids
from layouts.components import CARD_COLOURS, badge, empty, table
from layouts.dispatch_parts import thumbnails

#: The most incidents the queue shows at once.
QUEUE_LIMIT = 100
#: The actions the desk offers, in button order.
DESK_ACTIONS = (Action.FILE, Action.REJECT, Action.DISPATCH, Action.START, Action.RESOLVE, Action.CLOSE,
                Action.RETURN, Action.ESCALATE, Action.POSTPONE, Action.MERGE, Action.COMMENT, Action.REPORT_UP)
#: The pattern id type of the pass-down (下派) buttons, one per district or street centre it may go to
#: (``{"type": CONSOLE_TIER, "area": code}``; issue 17, command tiers).
CONSOLE_TIER = "console-tier"
#: The actions that can be taken on several ticked incidents at once (dispatch goes to each one's
#: routed department).
BULK_ACTIONS = (Action.FILE, Action.REJECT, Action.DISPATCH, Action.CLOSE, Action.ESCALATE)
STATE_COLOUR = "#3a6d8f"
MAP_HEIGHT_PX = 220
NOTICE_ROWS = 20
#: How many codes a bulk outcome names.
NAMED_CODES = 5


def _options(prefix: str, values: Any) -> list[dict[str, str]]:
    return [{"label": t(f"{prefix}.{v}"), "value": str(v)} for v in values]


def bulk_button(action: Action) -> html.Button:
    """A bulk button (``data-testid=console-bulk-<action>``)."""
    return html.Button(t(f"action.{action}"), id={"type": ids.CONSOLE_BULK, "action": action.value},
                       className=f"action-button action-{action.value}",
                       **{"data-testid": f"console-bulk-{action.value}"})


@callback(
    Output(ids.CONSOLE_FILTER_STATE, "options"),
    Output(ids.CONSOLE_FILTER_CARD, "options"),
    Output(ids.CONSOLE_FILTER_SOURCE, "options"),
    Output(ids.CONSOLE_DEPARTMENT, "options"),
    Output(ids.CONSOLE_FILTER_CATEGORY, "options"),
    Output(ids.CONSOLE_FILTER_GRID, "options"),
    Output(ids.CONSOLE_FILTER_DEPARTMENT, "options"),
    Output(ids.CONSOLE_ASSIGNEE, "options"),
    Output(ids.CONSOLE_BULK_BAR, "children"),
    Input(ids.CONSOLE_BOOT, "data"),
)
def fill_options(_boot: Any) -> tuple[list[Any], ...]:
    """The choices of the filters, of dispatch (department, assignee) and the bulk buttons, once."""
    user = signed_in()
    with uow() as session:
        departments = all_departments(session)
        department_options = [{"label": name_of(d), "value": d.code} for d in departments]
        categories = [{"label": f"{c.code} {name_of(c)}", "value": c.code}
                      for c in all_categories(session)]
        grids = [{"label": code, "value": code} for code in grid_codes(session)]
        people = active_users(session, (Role.WORKER, Role.HANDLER))
    assignees = [{"label": f"{p.display_name} ({t(f'role.{p.role}')})", "value": p.username} for p in people]
    bulk = [bulk_button(a) for a in BULK_ACTIONS if may(user.role, a)]
    return (
        _options("state", IncidentState),
        _options("card", (CARD_RED, CARD_YELLOW, CARD_NONE)),
        _options("source", SOURCES),
        department_options,
        categories,
        grids,
        department_options,
        assignees,
        bulk or [html.Span(DASH)],
    )


def queue_headers() -> list[str]:
    """The column titles of the queue."""
    return ["", *[t(f"console.col.{c}") for c in
                  ("code", "title", "category", "state", "card", "grid", "department", "deadline", "reported")]]


def _queue_row(incident: Incident, selected: int | None) -> list[Any]:
    chosen = " selected" if incident.id == selected else ""
    deadline = incident.close_deadline if incident.state == IncidentState.RESOLVED else incident.handle_deadline
    return [
        html.Div(dcc.Checklist(id={"type": ids.CONSOLE_CHECK, "id": incident.id},
                               options=[{"label": "", "value": incident.id}], value=[], className="row-check"),
                 **{"data-testid": "console-check"}),
        html.Button(incident.code, id={"type": ids.CONSOLE_SELECT, "id": incident.id},
                    className=f"link-button{chosen}", title=t("console.open"),
                    **{"data-testid": ids.CONSOLE_SELECT}),
        incident.title,
        name_of(incident.category),
        t(f"state.{incident.state}"),
        badge(t(f"card.{incident.card}"), CARD_COLOURS.get(incident.card, CARD_COLOURS[CARD_NONE])),
        incident.grid.code if incident.grid is not None else DASH,
        name_of(incident.department),
        local_time(deadline, "%m-%d %H:%M"),
        local_time(incident.reported_at),
    ]


@callback(
    Output(ids.CONSOLE_QUEUE, "children"),
    Output(ids.CONSOLE_VERSIONS, "data"),
    Output(ids.CONSOLE_QUEUE_SHOWN, "data"),
    Input(ids.CONSOLE_TICK, "n_intervals"),
    Input(ids.CONSOLE_FILTER_STATE, "value"),
    Input(ids.CONSOLE_FILTER_CARD, "value"),
    Input(ids.CONSOLE_FILTER_SOURCE, "value"),
    Input(ids.CONSOLE_RESULT, "data"),
    Input(ids.CONSOLE_SELECTED, "data"),
    Input(ids.CONSOLE_FILTER_CATEGORY, "value"),
    Input(ids.CONSOLE_FILTER_GRID, "value"),
    Input(ids.CONSOLE_FILTER_DEPARTMENT, "value"),
    State(ids.CONSOLE_QUEUE_SHOWN, "data"),
)
def show_queue(_tick: Any, state: str | None, card: str | None, source: str | None, _result: Any,
               selected: int | None, category: str | None = None, grid: str | None = None,
               department: str | None = None, shown: str | None = None) -> tuple[Any, Any, Any]:
    """The incidents this user may see, filtered, newest first (every 5 s and on every change), the
    selected one highlighted; the version of each row for the bulk actions; and the fingerprint of
    what was drawn. When nothing shown has changed since the last draw (``shown``) the queue is left
    as it is: a redraw every 5 s would replace the button under the operator's pointer and clear the
    rows they ticked for a bulk action."""
    with uow() as session:
        incidents = list_incidents(session, user=signed_in(), state=state, card=card, source=source,
                                   category=category, grid_code=grid, department_code=department, limit=QUEUE_LIMIT)
        fingerprint = queue_fingerprint(incidents, selected)
        if shown is not None and fingerprint == shown:
            return no_update, no_update, no_update
        rows = [_queue_row(i, selected) for i in incidents]
        versions = {str(i.id): i.version for i in incidents}
    if not rows:
        return empty("console.queue_empty"), versions, fingerprint
    return (table(queue_headers(), rows, row_testid="incident-row", class_name="data-table queue-table"),
            versions, fingerprint)


def queue_fingerprint(incidents: list[Incident], selected: int | None) -> str:
    """The fingerprint of everything the queue rows show."""
    return fingerprint(selected, [(i.id, i.version, i.code, i.title, i.category_code, i.state, i.card, i.grid_id,
                                   i.department_id, str(i.handle_deadline), str(i.close_deadline),
                                   str(i.reported_at)) for i in incidents])


@callback(
    Output(ids.CONSOLE_SELECTED, "data"),
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Input({"type": ids.CONSOLE_SELECT, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def select_incident(_clicks: list[int | None]) -> tuple[int, None]:
    """Remember the incident whose row was clicked (and clear the message about the previous one)."""
    clicked = clicked_id()
    if clicked is None:
        raise PreventUpdate
    return int(clicked["id"]), None


# --- the detail drawer --------------------------------------------------------------------------


def _fact(label_key: str, value: Any) -> list[Any]:
    return [html.Dt(t(label_key)), html.Dd(value if value not in (None, "") else DASH)]


def _merged_code(entry: IncidentHistory) -> str | None:
    data = entry.data or {}
    return data.get("target_code") or data.get("duplicate_code") if entry.action == Action.MERGE else None


def _history_detail(entry: IncidentHistory, seen_codes: frozenset[str] = frozenset()) -> str | None:
    data = entry.data or {}
    if entry.action == Action.POSTPONE and "hours" in data:
        return t(f"console.postpone_{data.get('status', 'approved')}", hours=f"{data['hours']:g}")
    if entry.action == Action.MERGE:  # the other incident is named only to those who may see it
        code = _merged_code(entry)
        return t("console.merged_with", code=code if code in seen_codes else DASH)
    if entry.action == Action.DISPATCH and data.get("assignee"):
        return t("console.assigned_to", name=data["assignee"])
    if entry.action == "rate" and data.get("satisfaction"):
        return t(f"satisfaction.{data['satisfaction']}")
    if entry.action in (Action.PASS_DOWN, Action.REPORT_UP) and "to_tier" in data:
        return t("console.tier_moved", before=data.get("from_tier") or t("console.tier_city"),
                 after=data.get("to_tier") or t("console.tier_city"))
    return joint_tasks.history_detail(data)  # issue 17 §2: lead and assisting departments


def _history_item(entry: IncidentHistory, photos_by_row: dict[int, list[dict[str, Any]]],
                  seen_codes: frozenset[str] = frozenset()) -> html.Li:
    who = entry.actor.display_name if entry.actor is not None else t("console.system")
    if entry.from_state in (None, entry.to_state):
        move = t(f"state.{entry.to_state}")
    else:
        move = f"{t(f'state.{entry.from_state}')} → {t(f'state.{entry.to_state}')}"
    extra = _history_detail(entry, seen_codes)
    return html.Li(
        [
            html.Span(local_time(entry.at), className="history-time"),
            html.Span(who, className="history-who"),
            html.Span(t(f"action.{entry.action}"), className="history-action"),
            html.Span(move, className="history-move"),
            html.Span(extra, className="history-extra") if extra else None,
            html.Div(entry.note, className="history-note") if entry.note else None,
            thumbnails(photos_by_row.get(entry.id, [])),
        ],
        className="history-item",
        **{"data-testid": "history-item"},
    )


def _seen(session: Session, incident_id: int | None, user: Any) -> Incident | None:
    """The incident ``incident_id`` if ``user`` may see it; None as for an incident that does not exist."""
    if incident_id is None:
        return None
    try:
        return get_incident(session, incident_id, user=user)
    except NotFound:
        return None


def _duplicate_hint(session: Session, incident: Incident, user: Any) -> html.Div | None:
    if incident.duplicate_of_id is None or incident.state not in (IncidentState.REPORTED, IncidentState.FILED):
        return None  # only while it can still be merged
    original = _seen(session, incident.duplicate_of_id, user)
    if original is None:
        return None
    return html.Div(t("console.duplicate_of", code=original.code, title=original.title), className="msg msg-warn",
                    **{"data-testid": "duplicate-hint"})


def _rating(incident: Incident, role: str) -> html.Div | None:
    if incident.source not in ("hotline", "open311") or incident.state != IncidentState.CLOSED:
        return None
    if incident.satisfaction is not None:
        return html.Div(t("console.rated", value=t(f"satisfaction.{incident.satisfaction}")), className="rating")
    if role not in (Role.ADMIN, Role.OPERATOR):
        return None
    return html.Div(
        [html.Span(t("console.rate"), className="field-label"),
         *[html.Button(t(f"satisfaction.{s}"), id={"type": ids.CONSOLE_RATING, "value": s},
                       className="action-button", **{"data-testid": f"console-rate-{s}"}) for s in SATISFACTION]],
        className="rating console-actions",
    )


def detail_view(incident: Incident, *, session: Session | None = None, role: str | None = None,
                user: Any = None) -> html.Div:
    """The selected incident: what, where, who, deadlines, photos, a proposed duplicate, and its history."""
    head = [
        html.H3(f"{incident.code} · {incident.title}", className="detail-title"),
        badge(t(f"state.{incident.state}"), STATE_COLOUR),
        badge(t(f"card.{incident.card}"), CARD_COLOURS.get(incident.card, CARD_COLOURS[CARD_NONE])),
        badge(t(f"severity.{incident.severity}"), CARD_COLOURS["yellow"]) if incident.severity != "normal" else None,
        badge(t("console.escalated"), CARD_COLOURS[CARD_RED]) if incident.escalated else None,
    ]
    who = caller_to_dict(incident, role or "")  # no role: masked like any reader who does not call back
    caller = f"{who['name'] or DASH} {who['phone'] or ''}".strip() if who is not None else None
    facts = html.Dl(
        [
            *_fact("console.col.category", name_of(incident.category)),
            *_fact("console.source", t(f"source.{incident.source}")),
            *_fact("console.caller", caller),
            *_fact("console.address", incident.address),
            *_fact("console.col.grid", incident.grid.code if incident.grid is not None else None),
            *_fact("console.col.department", name_of(incident.department)),
            *_fact("console.assignee", incident.assignee.display_name if incident.assignee else None),
            *_fact("console.col.reported", local_time(incident.reported_at)),
            *_fact("console.handle_deadline", local_time(incident.handle_deadline)),
            *_fact("console.close_deadline", local_time(incident.close_deadline)),
            *_fact("console.rework", incident.rework_count or 0),
            *_fact("console.tier", tier_label(session, incident.tier_area_code)),
        ],
        className="detail-facts",
    )
    photos = [attachment_to_dict(a) for a in incident.photos]
    by_row: dict[int, list[dict[str, Any]]] = {}
    for photo in photos:
        by_row.setdefault(photo["history_id"] or -1, []).append(photo)
    merged = {code for code in map(_merged_code, incident.history) if code}
    seen_codes = frozenset(code for code in merged if session is not None and user is not None
                           and visible_id_by_code(session, code, user=user) is not None)
    return html.Div(
        [
            html.Div(head, className="detail-head"),
            _duplicate_hint(session, incident, user) if session is not None and user is not None else None,
            html.P(incident.description, className="detail-description") if incident.description else None,
            facts,
            joint_tasks.tasks_view(incident, role),  # issue 17 §2: each department's task
            thumbnails(by_row.get(-1, [])),
            _rating(incident, role or ""),
            html.H4(t("console.history"), className="detail-subtitle"),
            html.Ol([_history_item(h, by_row, seen_codes) for h in incident.history], className="history"),
        ],
        **{"data-testid": "incident-detail"},
    )


def tier_label(session: Session | None, code: str | None) -> str:
    """The command tier handling an incident: the city centre, or the named district or street centre."""
    if code is None:
        return t("console.tier_city")
    name = area_name(session, code) if session is not None else None
    return f"{name or code} ({code})"


def pass_down_buttons(session: Session, incident: Incident, user: Any) -> list[html.Button]:
    """A pass-down (下派) button per district or street centre ``user`` may hand ``incident`` to."""
    if Action.PASS_DOWN not in available_actions(user.role, incident.state):
        return []
    return [html.Button(t("console.pass_down_to", area=area.name), id={"type": CONSOLE_TIER, "area": area.code},
                        className="action-button action-pass_down",
                        **{"data-testid": f"console-pass-down-{area.code}"})
            for area in tiers.pass_down_choices(session, user, current=incident.tier_area_code,
                                                grid_id=incident.grid_id)]


def desk_actions(role: str, state: str) -> list[Action]:
    """The desk actions this role may take on an incident in ``state``, in button order."""
    allowed = set(available_actions(role, state))
    return [a for a in DESK_ACTIONS if a in allowed]


def action_button(action: Action) -> html.Button:
    """The button of one action (``data-testid=console-action-<action>``)."""
    return html.Button(t(f"action.{action}"), id={"type": ids.CONSOLE_ACTION, "action": action.value},
                       className=f"action-button action-{action.value}",
                       **{"data-testid": f"console-action-{action.value}"})


def focus_map(session: Session, incident: Incident, user: Any) -> go.Figure | None:
    """A small map centred on ``incident``: its grid outlined, the open incidents nearby as small
    circles and the incident itself as a large circle in its card colour."""
    if incident.lon is None or incident.lat is None:
        return None
    area = shapely.from_wkb(incident.grid.geom) if incident.grid is not None else None
    box = area.bounds if area is not None else (incident.lon - 0.004, incident.lat - 0.003,
                                                incident.lon + 0.004, incident.lat + 0.003)
    figure = small_map(area, center=(incident.lon, incident.lat), zoom=zoom_for(box), height=MAP_HEIGHT_PX)
    nearby = [i for i in list_incidents(session, user=user, state=[IncidentState.REPORTED, *OPEN_STATES],
                                        limit=QUEUE_LIMIT)
              if i.id != incident.id and i.lon is not None
              and abs(i.lon - incident.lon) < 0.02 and abs(i.lat - incident.lat) < 0.02]
    figure.add_trace(go.Scattermap(
        lon=[i.lon for i in nearby], lat=[i.lat for i in nearby], mode="markers", text=[i.code for i in nearby],
        hoverinfo="text",
        marker={"size": 9, "color": [CARD_COLOURS.get(i.card, CARD_COLOURS[CARD_NONE]) for i in nearby]},
    ))
    figure.add_trace(go.Scattermap(
        lon=[incident.lon], lat=[incident.lat], mode="markers", text=[incident.code], hoverinfo="text",
        marker={"size": 18, "color": CARD_COLOURS.get(incident.card, CARD_COLOURS[CARD_NONE])},
    ))
    return figure


@callback(
    Output(ids.CONSOLE_DETAIL, "children"),
    Output(ids.CONSOLE_INCIDENT, "data"),
    Output(ids.CONSOLE_ACTIONS, "children"),
    Output(ids.CONSOLE_FORM, "hidden"),
    Output(ids.CONSOLE_DEPARTMENT_ROW, "hidden"),
    Output(ids.CONSOLE_DEPARTMENT, "value"),
    Output(ids.CONSOLE_MAP_BOX, "hidden"),
    Output(ids.CONSOLE_MAP, "figure"),
    Output(ids.CONSOLE_TARGET, "value"),
    Input(ids.CONSOLE_SELECTED, "data"),
    Input(ids.CONSOLE_RESULT, "data"),
)
def show_detail(incident_id: int | None, _result: Any) -> tuple[Any, ...]:
    """The selected incident as stored now, with the version the actions will be taken at.

    It is not refreshed by the timer: the version must stay the one the operator is looking at, so
    that an action on an incident someone else changed meanwhile is refused rather than misapplied.
    """
    if incident_id is None:
        return empty("console.pick"), None, [], True, True, no_update, True, no_update, no_update
    user = signed_in()
    with uow() as session:
        try:
            incident = get_incident(session, int(incident_id), user=user)
        except NotFound:
            return empty("console.gone"), None, [], True, True, no_update, True, no_update, no_update
        # report-up only from a district or street tier: the city centre has nothing above it
        actions = [a for a in desk_actions(user.role, incident.state)
                   if a != Action.REPORT_UP or incident.tier_area_code is not None]
        actions = joint_tasks.task_actions(incident, user, actions)  # issue 17 §2: a handler's own task
        routed = incident.department or incident.category.department
        figure = focus_map(session, incident, user)
        target = None
        if Action.MERGE in actions and incident.duplicate_of_id is not None:
            original = _seen(session, incident.duplicate_of_id, user)
            target = original.code if original is not None else None
        shown = {"id": incident.id, "version": incident.version}
        view = detail_view(incident, session=session, role=user.role, user=user)
        buttons = [*(action_button(a) for a in actions), *pass_down_buttons(session, incident, user)]
        return (view, shown, buttons, False, Action.DISPATCH not in actions, routed.code,
                figure is None, figure if figure is not None else no_update, target)


def _target_id(session: Session, code: str | None, user: Any) -> int | None:
    if not code:
        return None
    found = visible_id_by_code(session, code, user=user)
    if found is None:
        raise InvalidInput("invalid_target", f"no incident {code!r}")
    return found


@callback(
    Output(ids.CONSOLE_MESSAGE, "children"),
    Output(ids.CONSOLE_RESULT, "data"),
    Output(ids.CONSOLE_NOTE, "value"),
    Input({"type": ids.CONSOLE_ACTION, "action": ALL}, "n_clicks"),
    State(ids.CONSOLE_INCIDENT, "data"),
    State(ids.CONSOLE_NOTE, "value"),
    State(ids.CONSOLE_DEPARTMENT, "value"),
    State(ids.CONSOLE_RESULT, "data"),
    State(ids.CONSOLE_HOURS, "value"),
    State(ids.CONSOLE_TARGET, "value"),
    State(ids.CONSOLE_ASSIGNEE, "value"),
    State(ids.CONSOLE_ASSISTING, "value"),
    prevent_initial_call=True,
)
def take_action(_clicks: list[int | None], incident: dict[str, int] | None, note: str | None,
                department: str | None, result: int | None, hours: float | None = None, target: str | None = None,
                assignee: str | None = None, assisting: list[str] | None = None) -> tuple[Any, ...]:
    """Apply the clicked action at the version shown; a stale version reloads the detail."""
    clicked = clicked_id()
    if clicked is None or not incident:
        raise PreventUpdate
    action = clicked["action"]

    def work(session: Session, user: Any) -> str:
        get_incident(session, incident["id"], user=user)  # "not found" for what the user may not see
        return apply_action(
            session, incident["id"], action, version=incident["version"], actor=user,
            note=(note or "").strip() or None,
            department_code=department if action == Action.DISPATCH else None,
            assignee=assignee if action == Action.DISPATCH else None,
            hours=float(hours) if action == Action.POSTPONE and hours not in (None, "") else None,
            target_id=_target_id(session, target, user) if action == Action.MERGE else None,
            assisting=list(assisting or []) if action == Action.DISPATCH else None,  # issue 17 §2
        ).code

    outcome = run_work(work, lambda code: t("pages.action_done", action=t(f"action.{action}"), code=code))
    reload = (result or 0) + 1
    if outcome.ok:
        return outcome_view(outcome), reload, ""
    # The note is kept so a refused action can be retried without typing it again.
    return outcome_view(outcome), reload if outcome.stale else no_update, no_update


@callback(
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CONSOLE_RESULT, "data", allow_duplicate=True),
    Input({"type": ids.CONSOLE_RATING, "value": ALL}, "n_clicks"),
    State(ids.CONSOLE_INCIDENT, "data"),
    State(ids.CONSOLE_RESULT, "data"),
    prevent_initial_call=True,
)
def rate(_clicks: list[int | None], incident: dict[str, int] | None, result: int | None) -> tuple[Any, Any]:
    """Record the caller's satisfaction with a closed hotline or Open311 incident."""
    clicked = clicked_id()
    if clicked is None or not incident:
        raise PreventUpdate
    def work(session: Session, user: Any) -> str:
        get_incident(session, incident["id"], user=user)  # "not found" for what the user may not see
        return rate_incident(session, incident["id"], clicked["value"], actor=user).code

    outcome = run_work(
        work,
        lambda code: t("console.rated", value=t(f"satisfaction.{clicked['value']}")),
    )
    return outcome_view(outcome), (result or 0) + 1 if outcome.ok else no_update


@callback(
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CONSOLE_RESULT, "data", allow_duplicate=True),
    Output(ids.CONSOLE_NOTE, "value", allow_duplicate=True),
    Input({"type": CONSOLE_TIER, "area": ALL}, "n_clicks"),
    State(ids.CONSOLE_INCIDENT, "data"),
    State(ids.CONSOLE_NOTE, "value"),
    State(ids.CONSOLE_RESULT, "data"),
    prevent_initial_call=True,
)
def pass_down(_clicks: list[int | None], incident: dict[str, int] | None, note: str | None,
              result: int | None) -> tuple[Any, ...]:
    """Pass the incident down (下派) to the clicked district or street centre, at the version shown."""
    clicked = clicked_id()
    if clicked is None or not incident:
        raise PreventUpdate
    return act_on_shown(incident, Action.PASS_DOWN, note, result,
                        lambda code: t("pages.action_done", action=t("action.pass_down"), code=code),
                        area_code=str(clicked["area"]))


# --- bulk actions -------------------------------------------------------------------------------


def ticked_ids() -> list[int]:
    """The incidents ticked in the queue (the checklists are an ``ALL`` state)."""
    ticked: list[int] = []
    for fields in ctx.states_list:
        for field in fields if isinstance(fields, list) else [fields]:
            component_id = field.get("id")
            if isinstance(component_id, dict) and component_id.get("type") == ids.CONSOLE_CHECK:
                ticked += [int(v) for v in field.get("value") or []]
    return ticked


def bulk_outcome(action: str, done: list[str], refused: list[tuple[str, str]]) -> Outcome:
    """One message for a bulk action: how many were done, and which were refused and why."""
    parts = [t("console.bulk_done", action=t(f"action.{action}"), n=len(done))]
    if refused:
        named = ", ".join(f"{code} ({reason})" for code, reason in refused[:NAMED_CODES])
        parts.append(t("console.bulk_refused", n=len(refused), codes=named))
    return Outcome(not refused, " ".join(parts))


def _act_if_seen(session: Session, user: Any, incident_id: int, action: str, version: int, note: str | None) -> str:
    """Apply ``action`` to an incident the user may see; "not found" (as for none) for any other."""
    get_incident(session, incident_id, user=user)
    return apply_action(session, incident_id, action, version=version, actor=user,
                        note=(note or "").strip() or None).code


@callback(
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CONSOLE_RESULT, "data", allow_duplicate=True),
    Input({"type": ids.CONSOLE_BULK, "action": ALL}, "n_clicks"),
    State({"type": ids.CONSOLE_CHECK, "id": ALL}, "value"),
    State(ids.CONSOLE_VERSIONS, "data"),
    State(ids.CONSOLE_NOTE, "value"),
    State(ids.CONSOLE_RESULT, "data"),
    prevent_initial_call=True,
)
def take_bulk_action(_clicks: list[int | None], _ticks: list[list[int] | None], versions: dict[str, int] | None,
                     note: str | None, result: int | None) -> tuple[Any, Any]:
    """Apply the clicked bulk action to every ticked incident, each at the version its row showed and
    in its own unit of work (one refusal does not undo the others)."""
    clicked = clicked_id()
    if clicked is None:
        raise PreventUpdate
    action = clicked["action"]
    chosen = [i for i in ticked_ids() if str(i) in (versions or {})]
    if not chosen:
        return outcome_view(Outcome(False, t("error.nothing_selected"))), no_update
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for incident_id in chosen:
        version = (versions or {})[str(incident_id)]
        outcome = run_work(
            lambda session, user, i=incident_id, v=version: _act_if_seen(session, user, i, action, v, note),
            lambda code: code,
        )
        if outcome.ok:
            done.append(outcome.message)
        else:
            refused.append((str(incident_id), outcome.message))
    if refused:  # named by code where the user may see the incident, else by the id sent (as if none)
        with uow() as session:
            codes = visible_codes(session, [int(i) for i, _ in refused], user=signed_in())
        refused = [(codes.get(int(i), i), reason) for i, reason in refused]
    return outcome_view(bulk_outcome(action, done, refused)), (result or 0) + 1


@callback(Output(ids.CONSOLE_REPLICA_LAG, "children"), Input(ids.CONSOLE_TICK, "n_intervals"))
def show_replica_lag(_tick: Any) -> Any:
    """While the read replica lags more than 10 s: that the big screen, reports and map layers (read from it)
    may be behind. The console itself reads the primary."""
    return replica_notice("replica.behind_console")


# --- notifications ------------------------------------------------------------------------------


@callback(
    Output(ids.CONSOLE_NOTICE_BADGE, "children"),
    Output(ids.CONSOLE_NOTICE_BADGE, "className"),
    Input(ids.CONSOLE_TICK, "n_intervals"),
    Input(ids.CONSOLE_RESULT, "data"),
)
def show_badge(_tick: Any, _result: Any) -> tuple[str, str]:
    """How many unread notifications this user has."""
    with uow() as session:
        count = notifications.unread_count(session, signed_in())
    return str(count), "notice-badge unread" if count else "notice-badge"


def notice_item(row: Any) -> html.Li:
    return html.Li(
        [html.Span(local_time(row.at), className="history-time"),
         html.Span(t(f"notice.{row.kind}"), className="history-action"),
         html.Button(row.incident.code, id={"type": ids.CONSOLE_SELECT, "id": row.incident_id},
                     className="link-button"),
         html.Span(row.note or "", className="history-note")],
        className="notice-item" + ("" if row.read_at else " unread"), **{"data-testid": "notice-item"},
    )


@callback(
    Output(ids.CONSOLE_NOTICES_PANEL, "hidden"),
    Output(ids.CONSOLE_NOTICES, "children"),
    Input(ids.CONSOLE_NOTICE_BADGE, "n_clicks"),
    Input(ids.CONSOLE_NOTICE_READ, "n_clicks"),
    State(ids.CONSOLE_NOTICES_PANEL, "hidden"),
    prevent_initial_call=True,
)
def show_notices(_open: int | None, _read: int | None, hidden: bool | None) -> tuple[bool, Any]:
    """Open (or close) the notification list; "mark read" marks them all read."""
    user = signed_in()
    reading = ctx.triggered_id == ids.CONSOLE_NOTICE_READ
    if not reading and hidden is False:
        return True, no_update
    with uow() as session:
        if reading:
            mark_notifications_read(session, user)
        rows = notifications.latest(session, user, limit=NOTICE_ROWS)
        items = [notice_item(r) for r in rows]
    return False, html.Ol(items, className="history") if items else empty()
