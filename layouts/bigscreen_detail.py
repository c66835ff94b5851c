"""The big screen's detail card of a map object (doorplate, grid, camera, sensor, key place, incident, alert):
its labelled fields in the reader's language and the extras of its kind — a sensor's 24-hour sparkline and
active alerts, a camera's stream and its link to the video wall, an incident's link to the console. A pure
view of plain data: times come in as text (the callback formats them in the display time zone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from i18n import t
from layouts.bigscreen_charts import sparkline_figure
from layouts.components import LEVEL_COLOURS, badge, empty, ticker_item
from layouts.mapviews import detail_view


def field_value(key: str, value: Any) -> Any:
    """A field of the card as shown: states, cards, levels and kinds by name, the rest as it is."""
    if value is None or value == []:
        return None
    if key == "state":
        return t(f"state.{value}")
    if key == "card":
        return t(f"card.{value}")
    if key == "simulated":
        return t("map.simulated.yes") if value else t("map.simulated.no")
    if key == "status" and value in ("online", "offline"):
        return t(f"map.camera.{value}")
    if key == "type" and value in ("gun", "dome", "panoramic"):
        return t(f"map.camera_type.{value}")
    if key == "alert_level":
        return badge(t(f"level.{value}"), LEVEL_COLOURS.get(value, "#fff"))
    if key == "family":
        return t(f"family.{value}")
    if key == "place_kind":
        return t(f"map.place.{value}")
    if key == "algorithms":
        return ", ".join(t(f"map.algorithm.{a}") for a in value)
    return value


def sparkline(times: Sequence[str], values: Sequence[Any], unit: str) -> Any:
    """A sensor's last 24 hours of readings (``times`` as local text), or a line saying there were none."""
    if not times:
        return html.Div(t("map.no_readings"), className="empty")
    return html.Div(dcc.Graph(figure=sparkline_figure(list(times), list(values), unit),
                              config={"displayModeBar": False, "staticPlot": True}),
                    className="sparkline", **{"data-testid": "sparkline"})


def detail_card(kind: str, ident: Any, title: str, fields: Sequence[tuple[str, Any]],
                extra: dict[str, Any]) -> html.Div:
    """The detail card of one map object. ``fields`` are (key, value) with times already as text; ``extra``
    holds a sensor's ``series`` (times as text, values), ``unit`` and ``alerts`` (level, rule, value, time as
    text), a camera's ``stream_url``."""
    rows = [(t(f"map.field.{key}"), field_value(key, value)) for key, value in fields]
    extras: list[Any] = []
    if kind == "sensor":
        extras.append(html.Div(t("map.last_24h"), className="legend-title"))
        times, values = extra["series"]
        extras.append(sparkline(times, values, extra["unit"]))
        extras.append(html.Div(t("map.active_alerts"), className="legend-title"))
        extras.append(html.Div([ticker_item(t(f"level.{level}"), LEVEL_COLOURS.get(level, "#fff"), rule,
                                            "" if value is None else f"{value:g}", when)
                                for level, rule, value, when in extra["alerts"]] or [empty()], className="ticker"))
    elif kind == "camera":
        extras.append(html.Code(extra.get("stream_url") or "—", className="frame-url"))
        code = dict(fields).get("code")  # play it on the video wall (issue 19)
        extras.append(html.A(t("video.play"), href=f"/video?{urlencode({'cameras': code})}", className="btn",
                             **{"data-testid": "camera-play-link"}))
    elif kind == "incident":
        extras.append(html.A(t("map.open_in_console"), href=f"/console?incident={ident}", className="btn",
                             **{"data-testid": "incident-console-link"}))
    return detail_view(kind, title, rows, extra=extras)
