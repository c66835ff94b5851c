"""The emergency command board (应急指挥, ``/command/<event>``; issue 18 §3) as pure views, laid out for a
1920×1080 wall: the header (event, level, plan, state), the event's area on the map, the task board per
department, the timeline, the event's KPIs, the sensors worth watching with their last hour's trend and the
firing alerts of the area, the people on duty, the resources and cameras nearby with a link to
the video wall, and the printable event report. The sections are drawn from plain data by the functions below
(``callbacks/command.py`` reads it through ``dispatch.emergency.board`` and refreshes each section only when
it changed); ``/command`` without an event lists the events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import LEVEL_COLOURS, badge, empty, panel, table

#: Response levels' colours (I red … IV blue, the warning colours).
RESPONSE_COLOURS = {"I": LEVEL_COLOURS["red"], "II": LEVEL_COLOURS["orange"], "III": LEVEL_COLOURS["yellow"],
                    "IV": LEVEL_COLOURS["blue"]}
ROLE_COLOURS = {True: "#0a84ff", False: "#5e6b7a"}  # lead, assisting
DONE_COLOURS = {True: "#30d158", False: "#8e8e93"}
REFRESH_MS = 5000
VIDEO_MAX = 16


def _hm(iso: str | None) -> str:
    return "" if not iso else datetime.fromisoformat(iso).strftime("%m-%d %H:%M")


def layout(event: str | None = None, **_query: str) -> html.Div:
    """The board of event ``event`` (the path's last part), or the list of events without one."""
    event_id = int(event) if event and event.isdigit() else None
    if event_id is None:
        return html.Div([html.H1(t("emergency.board.title"), className="page-title"),
                         html.Div(id=ids.COMMAND_EVENTS, **{"data-testid": "command-events"}),
                         dcc.Interval(id=ids.COMMAND_LIST_TICK, interval=REFRESH_MS)], className="command-page")
    side = html.Div([
        panel(t("emergency.board.kpis"), html.Div(id=ids.COMMAND_KPIS), **{"data-testid": "command-kpis"}),
        panel(t("command_board2.sensors"), html.Div(id=ids.COMMAND_SENSORS), **{"data-testid": "command-sensors"}),
        panel(t("emergency.board.duty"), html.Div(id=ids.COMMAND_DUTY), **{"data-testid": "command-duty"}),
        panel(t("emergency.board.resources"), html.Div(id=ids.COMMAND_RESOURCES),
              **{"data-testid": "command-resources"}),
        panel(t("emergency.board.cameras"), html.Div(id=ids.COMMAND_CAMERAS), **{"data-testid": "command-cameras"}),
    ], className="command-side")
    return html.Div([
        dcc.Store(id=ids.COMMAND_EVENT, data=event_id),
        dcc.Store(id=ids.COMMAND_DIGESTS, data={}),
        dcc.Interval(id=ids.COMMAND_TICK, interval=REFRESH_MS),
        html.Div([html.Div(id=ids.COMMAND_HEADER, className="command-header-main"),
                  html.A(t("emergency.board.print"), href=f"/api/v1/events/{event_id}/report.pdf", target="_blank",
                         className="btn", **{"data-testid": "command-print"})],
                 className="command-header", **{"data-testid": "command-header"}),
        html.Div([
            html.Div(dcc.Graph(id=ids.COMMAND_MAP, config={"displayModeBar": False, "scrollZoom": True},
                               style={"height": "100%"}), className="command-map",
                     **{"data-testid": "command-map"}),
            side,
        ], className="command-top"),
        html.Div([
            panel(t("emergency.board.tasks"), html.Div(id=ids.COMMAND_TASKS), class_name="command-tasks",
                  **{"data-testid": "command-tasks"}),
            panel(t("emergency.board.timeline"), html.Div(id=ids.COMMAND_TIMELINE), class_name="command-timeline",
                  **{"data-testid": "command-timeline"}),
        ], className="command-bottom"),
    ], className="command-page")


def events_list(events: Sequence[dict[str, Any]]) -> html.Div:
    """The events, each a link to its board."""
    if not events:
        return empty("emergency.board.none")
    rows = [[html.A(e["code"], href=f"/command/{e['id']}"), e["title"], level_badge(e["level"]),
             t(f"emergency.state.{e['state']}"), t("emergency.board.exercise") if e["exercise"] else "",
             _hm(e["opened_at"])] for e in events]
    return table(["", "", "", "", "", ""], rows, row_testid="command-event-row")


def level_badge(level: str | None) -> html.Span:
    if level is None:
        return badge(t("emergency.level.none"), "#5e6b7a")
    return badge(t(f"emergency.level.{level}"), RESPONSE_COLOURS[level])


def header(event: dict[str, Any], plan_name: str | None) -> list[Any]:
    """The event's code, title, level, plan and state."""
    parts: list[Any] = [html.Span(event["code"], className="command-code"),
                        html.Span(event["title"], className="command-title", **{"data-testid": "command-title"}),
                        html.Span(level_badge(event["level"]), **{"data-testid": "command-level"})]
    if plan_name:
        parts.append(html.Span(f"{t('emergency.board.plan')}: {plan_name} v{event['plan_version']}"))
    parts.append(badge(t(f"emergency.state.{event['state']}"), "#30d158" if event["state"] == "active" else "#5e6b7a"))
    if event["exercise"]:
        parts.append(badge(t("emergency.board.exercise"), "#bf5af2"))
    return parts


def task_board(tasks: Sequence[dict[str, Any]], names: dict[str, str], now_iso: str) -> html.Div:
    """A column per department with a card per task (title, role, state, deadline; late ones marked)."""
    if not tasks:
        return empty("emergency.board.none")
    columns: dict[str, list[Any]] = {}
    for task in tasks:
        late = task["deadline"] is not None and task["state"] != "resolved" and task["deadline"] < now_iso
        card = html.Div([
            html.Div(task.get("title") or task.get("task") or "", className="task-title"),
            html.Div([badge(t(f"emergency.board.{task['role']}"), ROLE_COLOURS[task["role"] == "lead"]),
                      badge(t(f"emergency.task.{task['state']}"), DONE_COLOURS[task["state"] == "resolved"]),
                      html.Span(f"{t('emergency.board.deadline')} {_hm(task['deadline'])}"),
                      badge(t("emergency.board.late"), LEVEL_COLOURS["red"]) if late else None]),
        ], className=f"task-card{' late' if late else ''}", **{"data-testid": "command-task-card"})
        columns.setdefault(task["department"], []).append(card)
    return html.Div([html.Div([html.H3(names.get(code, code)), *cards], className="task-column",
                              **{"data-testid": "command-task-column"})
                     for code, cards in columns.items()], className="task-board")


def timeline(entries: Sequence[dict[str, Any]]) -> html.Ol:
    """The event's timeline, newest first."""
    items = []
    for entry in reversed(entries):
        what = t(f"emergency.timeline.{entry['kind']}")
        if entry.get("level_to"):
            what += f" {entry.get('level_from') or ''}→{entry['level_to']}" if entry.get("level_from") else \
                f" {entry['level_to']}"
        items.append(html.Li([html.Span(_hm(entry["at"]), className="tick-time"), html.Span(what),
                              html.Span(entry.get("actor") or "", className="tick-value"),
                              html.Span(entry.get("note") or "", className="tick-main")],
                             **{"data-testid": "command-timeline-entry"}))
    return html.Ol(items, className="command-timeline-list")


def kpis(figures: dict[str, Any]) -> html.Div:
    rows = [[t(f"emergency.kpi.{key}"), "—" if value is None else str(value)] for key, value in figures.items()]
    return table(["", ""], rows, row_testid="command-kpi")


def duty_list(on_duty: dict[str, Any]) -> html.Div:
    rows = [[t(f"duty.post.{p['post']}"), p["name"] or t("emergency.board.vacant")] for p in on_duty["on_duty"]]
    return table(["", ""], rows, row_testid="command-duty-row")


def resources_list(resources: Sequence[dict[str, Any]]) -> html.Div:
    if not resources:
        return empty("emergency.board.none")
    rows = [[r["code"], r["name"], r["kind"], r["status"]] for r in resources[:30]]
    return table(["", "", "", ""], rows, row_testid="command-resource-row")


def cameras_list(cameras: Sequence[dict[str, Any]]) -> html.Div:
    """The cameras of the area and one link that opens them on the video wall."""
    if not cameras:
        return empty("emergency.board.none")
    codes = ",".join(c["code"] for c in cameras[:VIDEO_MAX])
    return html.Div([
        html.A(t("emergency.board.open_video"), href=f"/video?cameras={codes}", target="_blank", className="btn",
               **{"data-testid": "command-open-video"}),
        html.Ul([html.Li(f"{c['code']} {c['name']}") for c in cameras[:VIDEO_MAX]]),
    ])


SPARK_SIZE = (120, 26)  # px: a sparkline beside a sensor's value
SPARK_COLOUR = "#8fd3ff"
#: The few characters a data URI must not hold raw; the rest of the SVG (single-quoted) stays readable and short.
_URI_ESCAPES = str.maketrans({"#": "%23", "<": "%3C", ">": "%3E", "%": "%25"})


def sparkline_svg(points: Sequence[float | None], colour: str = SPARK_COLOUR) -> str:
    """A sparkline of ``points`` (oldest first; None breaks the line) as an SVG data URI for an ``<img>``: a few
    hundred bytes, no chart library on the client."""
    width, height = SPARK_SIZE
    known = [p for p in points if p is not None]
    path: list[str] = []
    if known:
        low, high = min(known), max(known)
        span = (high - low) or 1.0
        step = width / max(len(points) - 1, 1)
        pen_up = True
        for index, point in enumerate(points):
            if point is None:
                pen_up = True
                continue
            x, y = index * step, height - 2 - (point - low) / span * (height - 4)
            path.append(f"{'M' if pen_up else 'L'}{x:.0f} {y:.0f}")
            pen_up = False
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'><path d='{''.join(path)}' "
           f"fill='none' stroke='{colour}' stroke-width='1.6'/></svg>")
    return "data:image/svg+xml;utf8," + svg.translate(_URI_ESCAPES)


def _change(change: float | None, unit: str) -> str:
    if change is None:
        return ""
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    return f" {arrow}{change:+g}{unit}"


def alert_counts(alerts: Sequence[dict[str, Any]]) -> html.Div:
    """How many alerts fire in the area, by level (the most severe first)."""
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert["level"]] = counts.get(alert["level"], 0) + 1
    badges = [badge(f"{t(f'level.{level}')} {counts[level]}", LEVEL_COLOURS[level])
              for level in LEVEL_COLOURS if level in counts]  # red first
    return html.Div([html.Span(t("command_board2.alerts_firing", n=len(alerts))), *badges],
                    className="command-alert-counts", **{"data-testid": "command-alert-counts"})


def sensor_trends(trends: Sequence[dict[str, Any]], alerts: Sequence[dict[str, Any]]) -> html.Div:
    """The area's firing alerts by level, then a compact row per sensor worth watching (it is resent whenever a
    value moves): its name (the alert level as the row's colour), the last hour as a sparkline, the value now and
    the change over the hour."""
    if not trends:
        return html.Div([alert_counts(alerts), empty("command_board2.no_sensors")])
    rows = []
    for sensor in trends:
        level = sensor["level"] or "none"
        value = "—" if sensor["value"] is None else f"{sensor['value']:g}{sensor['unit']}"
        rows.append(html.Div([
            html.Span(sensor["name"], title=sensor["id"]),
            html.Img(src=sparkline_svg(sensor["points"], LEVEL_COLOURS.get(level, SPARK_COLOUR))),
            html.Span(value + _change(sensor["change"], sensor["unit"])),
        ], className=f"command-sensor-row level-{level}", **{"data-testid": "command-sensor-row"}))
    return html.Div([alert_counts(alerts), *rows], title=t("command_board2.last_hour"))
