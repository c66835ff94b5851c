"""The big screen's lists and panels as views of plain data: the alert ticker and the incident list, the
rankings, the AQI with its stations, the sensor families in alarm, the 12345 hotline panel and the on-duty
line. The callbacks read the data and format times; these functions only draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from i18n import t
from layouts.bigscreen import aqi_view, family_cell, rank_row
from layouts.components import CARD_COLOURS, LEVEL_COLOURS, empty, ticker_item
from layouts.mapstyle import FAMILY_COLOURS

#: Stations listed under the AQI, worst first.
STATION_ROWS = 5


def _alert_tick(alert: Mapping[str, Any]) -> html.Div:
    level = alert["level"]
    colour = LEVEL_COLOURS.get(level, "#fff")
    label = t("level." + level)
    if alert["exercise"]:
        label = f"{t('screen.exercise')} · {label}"
    value = "" if alert["value"] is None else f"{alert['value']:g}"
    if alert["muted"]:
        value = f"{value} {t('screen.muted')}".strip()
    item = ticker_item(label, colour, f"{t('family.' + alert['family'])} · {alert['sensor_name']}", value,
                       alert["when"], testid="alert-item")
    item.className = " ".join(["tick", f"tick-{level}", "alert-exercise" if alert["exercise"] else "",
                               "alert-muted" if alert["muted"] else ""]).strip()
    item.style = {"--tick": colour}
    return item


def alert_items(alerts: Sequence[Mapping[str, Any]]) -> list[Any] | html.Div:
    """The alert ticker, latest first, level-coloured; a drill's alerts striped and labelled. Each alert has
    ``level``, ``exercise``, ``muted``, ``value``, ``family``, ``sensor_name`` and ``when`` (the time as text)."""
    return [_alert_tick(a) for a in alerts] if alerts else empty()


def incident_items(incidents: Sequence[tuple[str, str, str, str, str]]) -> list[Any] | html.Div:
    """The latest incidents as (card, code, title, state, time as text)."""
    if not incidents:
        return empty()
    return [ticker_item(t("card." + card), CARD_COLOURS.get(card, "#fff"), f"{code} · {title}", t("state." + state),
                        when, testid="incident-item")
            for card, code, title, state, when in incidents]


def category_rows(rows: Sequence[tuple[str, int]]) -> list[Any] | html.Div:
    """The category ranking as (name, incidents reported), the top one first."""
    if not rows:
        return empty()
    top = max(reported for _, reported in rows)
    return [rank_row(n, name, t("screen.rank.count", n=reported), reported / top)
            for n, (name, reported) in enumerate(rows, start=1)]


def department_rows(rows: Sequence[tuple[str, int, str, str]]) -> list[Any] | html.Div:
    """The department ranking as (name, incidents filed, closure rate as text, its target state)."""
    if not rows:
        return empty()
    top = max(filed for _, filed, _, _ in rows)
    return [rank_row(n, name, t("screen.rank.count", n=filed), filed / top, rate=rate, state=state)
            for n, (name, filed, rate, state) in enumerate(rows, start=1)]


def family_cells(rows: Sequence[tuple[str, int, int, str | None]]) -> list[Any] | html.Div:
    """Sensor families as (family, sensors in alarm, sensors, worst level firing), in the map legend's order
    (lifeline, then environment), so each keeps its place."""
    order = list(FAMILY_COLOURS)
    ranked = sorted(rows, key=lambda r: (order.index(r[0]) if r[0] in order else len(order), r[0]))
    return [family_cell(family, in_alarm, total, LEVEL_COLOURS.get(worst or ""))
            for family, in_alarm, total, worst in ranked] or empty()


def warning_line(period: str, figures: Mapping[str, Any]) -> str:
    """The warning statistics of the ranking period (``alerts.review.warning_stats`` totals) in one line:
    raised, reviewed, confirmed, false alarms, mean minutes to acknowledge."""
    ack = figures.get("mean_ack_minutes")
    return t("screen.warnings.line", period=t(f"screen.warnings.{period}"), raised=figures.get("raised", 0),
             reviewed=figures.get("reviewed", 0), confirmed=figures.get("confirmed", 0),
             false_alarm=figures.get("false_alarm", 0), ack="—" if ack is None else f"{ack:.1f}")


def station_rows(rows: Sequence[tuple[str, int, Sequence[str]]]) -> html.Div:
    """Each station's newest hourly AQI as (name, AQI, primary pollutants), worst first."""
    top = max((value for _, value, _ in rows), default=1) or 1
    return html.Div(
        [rank_row(n, name, str(value), value / top,
                  rate="、".join(t(f"screen.pollutant.{p}") for p in primary) or "—", state="none")
         for n, (name, value, primary) in enumerate(rows[:STATION_ROWS], start=1)],
        className="aqi-stations-list", **{"data-testid": "aqi-stations"},
    )


def aqi_block(value: int | None, category: int | None, primary: Sequence[str], stations: int,
              station_aqi: Sequence[tuple[str, int, Sequence[str]]]) -> html.Div:
    """The current AQI of the city or area (``layouts.bigscreen.aqi_view``) with its stations under it."""
    return html.Div([aqi_view(value, category, list(primary), stations), station_rows(station_aqi)],
                    className="aqi-with-stations")


def duty_line(now: Mapping[str, Any]) -> str:
    """``dispatch.duty.on_duty_now`` as one line: the shift, then each post and its holder (or vacant)."""
    posts = " · ".join(f"{t('duty.post.' + p['post'])} {p['name'] or t('duty.vacant')}" for p in now["on_duty"])
    return f"{t('duty.now')} ({t('duty.shift.' + now['shift']['shift'])}): {posts}"


#: The hotline panel's figures, in display order (``dispatch.hotline.screen_hotline``).
HOTLINE_PANEL_KEYS = ("orders", "direct_rate", "transferred_rate", "satisfaction_rate", "mean_handle_workdays",
                      "on_time_reply_rate", "repeat_calls", "out_of_hours")


def hotline_cells(values: Mapping[str, str]) -> list[html.Div]:
    """The hotline panel: one cell per figure of HOTLINE_PANEL_KEYS, its value already formatted."""
    return [html.Div([html.Div(values.get(key, "—"), className="hotline-value"),
                      html.Div(t(f"screen.hotline.{key}"), className="hotline-label")],
                     className="hotline-cell", **{"data-testid": f"hotline-{key}"})
            for key in HOTLINE_PANEL_KEYS]
