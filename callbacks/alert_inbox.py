"""Console alert-inbox callbacks: the filter choices, the list of open alerts (reloaded with the console
tick and after every action), and the three actions — acknowledge, silence the sensor for an hour, turn
into an incident — plus the review of a fired alert (confirmed, false alarm with its reason, exercise), by
an operator or admin (a handler sees the list without the buttons)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from alerts.inbox import DEFAULT_SILENCE_MINUTES, InboxError, InboxRow, ack_alert, open_alerts, silence_sensor
from alerts.queries import sensor_families
from alerts.review import FALSE_ALARM_REASONS, ReviewCommand, ReviewError, review_alert, reviews_of
from alerts.silences import SilenceError
from alerts.triage import TriageError, triage_alert
from callbacks.common import uow
from callbacks.pagekit import DASH, Outcome, clicked_id, local_time, outcome_view, refusal_message, signed_in
from data.models import utcnow
from data.queries import filter_areas, user_by_id
from domain.states import ALERT_LEVELS_DESC
from i18n import current_lang, t
from layouts import ids
from layouts.components import LEVEL_COLOURS, badge, dropdown, empty, table

LEVELS = ALERT_LEVELS_DESC
#: The roles that may act on alerts (the same as the alert API's write routes).
ACTING_ROLES = frozenset({"admin", "operator"})
ACTIONS = ("ack", "silence", "incident")
#: The review choices of a fired alert: "verdict" or "false_alarm:reason".
REVIEW_CHOICES = ("confirmed", *(f"false_alarm:{reason}" for reason in FALSE_ALARM_REASONS), "exercise")


@callback(
    Output(ids.CONSOLE_ALERTS_LEVEL, "options"),
    Output(ids.CONSOLE_ALERTS_FAMILY, "options"),
    Output(ids.CONSOLE_ALERTS_AREA, "options"),
    Input(ids.CONSOLE_BOOT, "data"),
)
def fill_filters(_boot: Any) -> tuple[list[dict[str, Any]], ...]:
    """Levels; the sensor families of this city; districts and streets/towns."""
    with uow() as session:
        families = sensor_families(session)
        areas = filter_areas(session)
    return (
        [{"label": t(f"level.{level}"), "value": level} for level in LEVELS],
        [{"label": t(f"family.{family}"), "value": family} for family in families],
        [{"label": f"{name} · {t(f'map.area.{level}')}", "value": area_id} for area_id, name, level in areas],
    )


def _value(row: InboxRow) -> str:
    if row.value is None:
        return DASH
    return f"{row.value:g} {row.unit or ''}".strip()


def review_label(choice: str) -> str:
    """A review as shown: 确认 / 误报·设备故障 / 演练."""
    verdict, _, reason = choice.partition(":")
    label = t(f"review.verdict.{verdict}")
    return f"{label} · {t(f'review.reason.{reason}')}" if reason else label


def _status(row: InboxRow, review: tuple[str, str | None] | None = None) -> list[Any]:
    parts: list[Any] = [t(f"alertstate.{row.state}")]
    if review is not None:
        choice = f"{review[0]}:{review[1]}" if review[1] else review[0]
        parts.append(html.Span(f" · {t('review.reviewed', review=review_label(choice))}", className="muted-note"))
    if row.acked:
        parts.append(html.Span(f" · {t('inbox.acked')}", className="muted-note"))
    if row.muted:
        parts.append(html.Span(f" · {t(f'inbox.muted.{row.muted}')}", className="muted-note"))
    if row.exercise:
        parts.append(html.Span(f" · {t('inbox.exercise')}", className="muted-note"))
    if row.incident_code:
        parts.append(html.A(f" → {row.incident_code}", href=f"/console?incident={row.incident_id}"))
    return parts


def _buttons(row: InboxRow) -> html.Div:
    shown = [a for a in ACTIONS if not (a == "ack" and row.acked) and not (a == "incident" and row.incident_code)
             and not (a == "incident" and row.fired_at is None)]
    controls: list[Any] = [
        html.Button(t(f"inbox.action.{action}"), id={"type": ids.CONSOLE_ALERT_ACTION, "action": action,
                                                    "alert": row.id},
                    className=f"action-button inbox-{action}", n_clicks=0)
        for action in shown
    ]
    if row.fired_at is not None:  # a pending alert has nothing to review yet
        # Never pre-filled: a re-render then triggers with no value, which is told apart from a choice.
        controls.append(dropdown(id={"type": ids.CONSOLE_ALERT_REVIEW, "action": "review", "alert": row.id},
                                 options=[{"label": review_label(c), "value": c} for c in REVIEW_CHOICES],
                                 placeholder=t("review.choose"), clearable=False, className="inbox-review"))
    return html.Div(controls, className="inbox-actions")


def inbox_view(rows: list[InboxRow], *, can_act: bool,
               reviews: dict[int, tuple[str, str | None]] | None = None) -> Any:
    """The inbox table (or the empty note), with each reviewed alert's review in its status."""
    if not rows:
        return empty("inbox.empty")
    en = current_lang() == "en"
    headers = [t("inbox.col.level"), t("inbox.col.rule"), t("inbox.col.sensor"), t("inbox.col.value"),
               t("inbox.col.grid"), t("inbox.col.since"), t("inbox.col.status")]
    if can_act:
        headers.append(t("inbox.col.actions"))
    body = []
    for row in rows:
        cells = [badge(t(f"level.{row.level}"), LEVEL_COLOURS.get(row.level, "#888")),
                 row.rule_en if en else row.rule_zh, f"{row.sensor_name} ({row.sensor_id})", _value(row),
                 row.grid_code or DASH, local_time(row.fired_at or row.started_at, "%m-%d %H:%M"),
                 _status(row, (reviews or {}).get(row.id))]
        if can_act:
            cells.append(_buttons(row))
        body.append(cells)
    return table(headers, body, row_testid=ids.CONSOLE_ALERT_ROW, class_name="data-table queue-table")


@callback(
    Output(ids.CONSOLE_ALERTS, "children"),
    Input(ids.CONSOLE_TICK, "n_intervals"),
    Input(ids.CONSOLE_ALERTS_LEVEL, "value"),
    Input(ids.CONSOLE_ALERTS_FAMILY, "value"),
    Input(ids.CONSOLE_ALERTS_AREA, "value"),
    Input(ids.CONSOLE_ALERTS_RESULT, "data"),
)
def show_inbox(_tick: Any, levels: list[str] | None, families: list[str] | None, area_id: int | None,
               _result: Any) -> Any:
    """The open alerts matching the filters, newest first."""
    with uow() as session:
        rows = open_alerts(session, levels=[lv for lv in levels or [] if lv in LEVELS],
                           families=families or [], area_id=area_id if isinstance(area_id, int) else None)
        reviews = reviews_of(session, [row.id for row in rows])
    return inbox_view(rows, can_act=signed_in().role in ACTING_ROLES, reviews=reviews)


def act_on_alert(action: str, alert_id: int) -> Outcome:
    """Do ``action`` on an alert as the signed-in user in one unit of work; a refusal changes nothing."""
    user = signed_in()
    if user.role not in ACTING_ROLES:
        return Outcome(False, refusal_message("forbidden_action"))
    now = utcnow()
    try:
        with uow() as session:
            if action == "ack":
                ack_alert(session, user, alert_id, now)
                return Outcome(True, t("inbox.done.ack", alert=alert_id))
            if action == "silence":
                silence_sensor(session, user, alert_id, now)
                return Outcome(True, t("inbox.done.silence", alert=alert_id, minutes=DEFAULT_SILENCE_MINUTES))
            _, incident = triage_alert(session, alert_id, actor=user_by_id(session, user.id))
            return Outcome(True, t("inbox.done.incident", alert=alert_id, code=incident.code))
    except (InboxError, TriageError, SilenceError) as exc:
        return Outcome(False, refusal_message(exc.code))


@callback(
    Output(ids.CONSOLE_ALERTS_MESSAGE, "children"),
    Output(ids.CONSOLE_ALERTS_RESULT, "data"),
    Input({"type": ids.CONSOLE_ALERT_ACTION, "action": ALL, "alert": ALL}, "n_clicks"),
    State(ids.CONSOLE_ALERTS_RESULT, "data"),
    prevent_initial_call=True,
)
def on_alert_action(_clicks: list[int | None], result: int | None) -> tuple[Any, int]:
    """A click on an inbox button: do it, say what happened, reload the list."""
    clicked = clicked_id()
    if clicked is None or clicked.get("action") not in ACTIONS or not isinstance(clicked.get("alert"), int):
        raise PreventUpdate
    outcome = act_on_alert(clicked["action"], clicked["alert"])
    return outcome_view(outcome), (result or 0) + 1


def review_from_inbox(alert_id: int, choice: str) -> Outcome:
    """Review an alert as the signed-in user with one of REVIEW_CHOICES; a refusal changes nothing."""
    if choice not in REVIEW_CHOICES:
        return Outcome(False, refusal_message("invalid_verdict"))
    verdict, _, reason = choice.partition(":")
    try:
        with uow() as session:
            review_alert(session, signed_in(), alert_id, ReviewCommand(verdict, reason or None), utcnow())
    except ReviewError as exc:
        return Outcome(False, refusal_message(exc.code))
    return Outcome(True, t("review.done", alert=alert_id, review=review_label(choice)))


@callback(
    Output(ids.CONSOLE_ALERTS_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CONSOLE_ALERTS_RESULT, "data", allow_duplicate=True),
    Input({"type": ids.CONSOLE_ALERT_REVIEW, "action": "review", "alert": ALL}, "value"),
    State(ids.CONSOLE_ALERTS_RESULT, "data"),
    prevent_initial_call=True,
)
def on_alert_review(_choices: list[str | None], result: int | None) -> tuple[Any, int]:
    """A review chosen in the inbox: record it, say what happened, reload the list."""
    chosen = clicked_id()
    if chosen is None or not isinstance(chosen.get("alert"), int):
        raise PreventUpdate
    choice = next((item["value"] for item in ctx.triggered if item.get("value")), None)
    outcome = review_from_inbox(chosen["alert"], str(choice))
    return outcome_view(outcome), (result or 0) + 1
