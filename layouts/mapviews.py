"""Views of the city map's panels that callbacks fill in: the detail card, search hits and the video-wall
tile. Pure functions of their arguments (this module is not a page)."""

from __future__ import annotations

from typing import Any

from dash import html

from i18n import t
from layouts import ids
from layouts.components import badge

#: The drill-down pickers: (component id, area level), from the top.
AREA_LEVELS = ((ids.BIGSCREEN_AREA_DISTRICT, "district"), (ids.BIGSCREEN_AREA_STREET, "street"),
               (ids.BIGSCREEN_AREA_COMMUNITY, "community"), (ids.BIGSCREEN_AREA_GRID, "grid"))


def detail_view(kind: str, title: str, rows: list[tuple[str, Any]], *, extra: list[Any] | None = None) -> html.Div:
    """The detail card of one map object: its kind, title and labelled fields, then extras."""
    return html.Div(
        [
            html.Div([badge(t(f"map.kind.{kind}"), "#3fb8ff"), html.Span(title, className="detail-title")],
                     className="detail-head"),
            html.Dl([part for label, value in rows
                     for part in (html.Dt(label), html.Dd("—" if value in (None, "", []) else value))],
                    className="detail-fields"),
            *(extra or []),
        ],
        className=f"detail detail-{kind}",
        **{"data-testid": f"detail-{kind}"},
    )


def search_results(hits: list[tuple[str, Any, str]]) -> html.Div:
    """Search hits as buttons (pattern-matching ids); an empty list says nothing was found."""
    if not hits:
        return html.Div(t("map.search_none"), className="empty")
    return html.Div([html.Button([badge(t(f"map.kind.{kind}"), "#3fb8ff"), html.Span(label)],
                                 id={"type": ids.BIGSCREEN_SEARCH_HIT, "kind": kind, "key": str(key)},
                                 className="search-hit", **{"data-testid": "search-hit"})
                     for kind, key, label in hits])


def patrol_screen(camera: dict[str, Any] | None, position: int, total: int) -> html.Div:
    """The video-wall tile: a placeholder frame (no video is decoded) with the camera and its stream URL."""
    if camera is None:
        return html.Div(t("map.patrol.empty"), className="empty")
    return html.Div(
        [
            html.Div([html.Div(camera["name"], className="frame-name"),
                      html.Div(t("map.patrol.placeholder"), className="frame-note")],
                     className=f"frame frame-{camera['status']}"),
            html.Div([html.Span(camera["code"]), html.Span(t(f"map.camera.{camera['status']}")),
                      html.Span(f"{position} / {total}", className="patrol-count")], className="frame-meta"),
            html.Code(camera.get("stream_url") or "—", className="frame-url", **{"data-testid": "stream-url"}),
        ],
        className="patrol-tile",
        **{"data-testid": "patrol-tile"},
    )
