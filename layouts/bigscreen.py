"""The big screen (/): the city map in the centre (layer switcher, legend, drill-down, search, details,
video wall with patrol rotation), live KPI tiles, the alert ticker and latest incidents."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import kpi_tile, panel
from layouts.mapstyle import (
    CAMERA_COLOURS,
    CARD_COLOURS,
    DOORPLATE_COLOUR,
    FAMILY_COLOURS,
    KEY_PLACE_COLOURS,
    LAYERS,
    LEVEL_COLOURS,
)
from layouts.mapviews import AREA_LEVELS

GRID_METRICS = ("open", "cards", "workload")
PATROL_INTERVALS = (5, 10, 30, 60)


def _swatch(colour: str, label: str, shape: str = "dot") -> html.Span:
    return html.Span([html.I(className=f"swatch swatch-{shape}", style={"--swatch": colour}), label],
                     className="legend-item")


def legend() -> html.Div:
    """What every colour on the map means (the same palette the map is drawn with)."""
    rows = [
        (t("layer.grids"), [html.Span(className="legend-ramp"), html.Span(t("map.legend.ramp"), className="muted")]),
        (t("layer.doorplates"), [_swatch(DOORPLATE_COLOUR, t("layer.doorplates"))]),
        (t("layer.cameras"), [_swatch(CAMERA_COLOURS[s], t(f"map.camera.{s}")) for s in ("online", "offline")]),
        (t("layer.sensors"), [_swatch(c, t(f"family.{f}")) for f, c in FAMILY_COLOURS.items()]
         + [html.Span(t("map.legend.sensor_alerting"), className="muted")]),
        (t("layer.key_places"), [_swatch(c, t(f"map.place.{k}")) for k, c in KEY_PLACE_COLOURS.items()]),
        (t("layer.incidents"), [_swatch(CARD_COLOURS[c], t(f"card.{c}")) for c in ("red", "yellow", "none")]),
        (t("layer.alerts"), [_swatch(c, t(f"level.{lvl}"), "ring") for lvl, c in LEVEL_COLOURS.items()]),
    ]
    return html.Div([html.Div([html.Div(title, className="legend-title"), html.Div(items, className="legend-items")],
                              className="legend-row") for title, items in rows],
                    id=ids.BIGSCREEN_LEGEND, className="map-legend", **{"data-testid": "map-legend"})


def _map_tools() -> html.Div:
    return html.Div(
        [
            html.Div(
                [dcc.Input(id=ids.BIGSCREEN_SEARCH, type="search", debounce=True, placeholder=t("map.search"),
                           className="map-search"),
                 html.Button(t("map.search_go"), id=ids.BIGSCREEN_SEARCH_GO, className="btn",
                             **{"data-testid": "map-search-go"}),
                 html.Div(id=ids.BIGSCREEN_SEARCH_RESULTS, className="search-results")],
                className="search-box",
            ),
            html.Div(
                [dcc.Dropdown(id=cid, placeholder=t(f"map.area.{level}"), className="area-pick")
                 for cid, level in AREA_LEVELS],
                className="drill",
            ),
        ],
        className="map-tools",
    )


def _switcher() -> html.Details:
    return html.Details(
        [
            html.Summary(t("map.layers")),
            dcc.Checklist(id=ids.BIGSCREEN_LAYERS, options=[{"label": t(f"layer.{k}"), "value": k} for k in LAYERS],
                          value=list(LAYERS), className="layer-list", inputClassName="layer-check"),
            html.Div(t("map.grid_metric"), className="legend-title"),
            dcc.RadioItems(id=ids.BIGSCREEN_GRID_METRIC, value="open", className="metric-list",
                           options=[{"label": t(f"map.metric.{m}"), "value": m} for m in GRID_METRICS]),
            legend(),
        ],
        open=True,
        className="map-overlay",
        **{"data-testid": "layer-switcher"},
    )


def _video_wall() -> html.Div:
    return html.Div(
        [
            html.Div([html.Span(t("map.videowall"), className="videowall-title"),
                      html.Button("×", id=ids.BIGSCREEN_VIDEOWALL_CLOSE, className="btn btn-close",
                                  title=t("map.close"))], className="videowall-head"),
            html.Div(
                [dcc.RadioItems(id=ids.BIGSCREEN_PATROL_SOURCE, value="area", className="metric-list",
                                options=[{"label": t(f"map.patrol.{s}"), "value": s} for s in ("area", "saved")]),
                 dcc.Dropdown(id=ids.BIGSCREEN_PATROL_INTERVAL, value=10, clearable=False, className="patrol-interval",
                              options=[{"label": t("map.patrol.every", seconds=s), "value": s}
                                       for s in PATROL_INTERVALS]),
                 html.Button(t("map.patrol.play"), id=ids.BIGSCREEN_PATROL_PLAY, className="btn",
                             **{"data-testid": "patrol-play"}),
                 html.Button(t("map.patrol.save"), id=ids.BIGSCREEN_PATROL_SAVE, className="btn"),
                 html.Button(t("map.patrol.clear"), id=ids.BIGSCREEN_PATROL_CLEAR, className="btn")],
                className="videowall-controls",
            ),
            html.Div(id=ids.BIGSCREEN_PATROL_SCREEN, className="videowall-screen",
                     **{"data-testid": "video-wall-screen"}),
            dcc.Interval(id=ids.BIGSCREEN_PATROL_TICK, interval=10_000, disabled=True),
            dcc.Store(id=ids.BIGSCREEN_PATROL_LIST),
            dcc.Store(id=ids.BIGSCREEN_PATROL_SAVED, storage_type="local", data=[]),
        ],
        id=ids.BIGSCREEN_VIDEOWALL,
        className="videowall",
        **{"data-testid": "video-wall"},
    )


def layout(**_query: str) -> html.Div:
    """The big-screen view; data arrives through callbacks (static map once, live parts by Patch)."""
    return html.Div(
        [
            html.Div(
                [
                    panel(
                        t("bigscreen.kpis"),
                        html.Div([kpi_tile(k) for k in ids.BIGSCREEN_TILE_KEYS], className="kpi-grid"),
                    ),
                    panel(t("bigscreen.alerts"), html.Div(id=ids.BIGSCREEN_ALERT_LIST, className="ticker")),
                ],
                className="col col-side",
            ),
            html.Div(
                panel(
                    t("bigscreen.map"),
                    [
                        _map_tools(),
                        html.Div(
                            [
                                html.Div(
                                    dcc.Graph(
                                        id=ids.BIGSCREEN_MAP,
                                        config={"displayModeBar": False, "scrollZoom": True},
                                        className="map-graph",
                                    ),
                                    className="map-box",
                                    **{"data-testid": "city-map"},
                                ),
                                _switcher(),
                                _video_wall(),
                            ],
                            className="map-stage",
                        ),
                    ],
                    class_name="panel-map",
                ),
                className="col col-main",
            ),
            html.Div(
                [
                    panel(t("map.detail"), html.Div(html.Div(t("map.detail_hint"), className="empty"),
                                                    id=ids.BIGSCREEN_DETAIL),
                          class_name="panel-detail", **{"data-testid": "map-detail"}),
                    panel(t("bigscreen.incidents"), html.Div(id=ids.BIGSCREEN_INCIDENT_LIST, className="ticker")),
                    html.Div(id=ids.BIGSCREEN_UPDATED, className="updated"),
                ],
                className="col col-side",
            ),
            dcc.Store(id=ids.BIGSCREEN_MAP_VERSION),
            dcc.Store(id=ids.BIGSCREEN_LIVE_DIGEST),
            dcc.Store(id=ids.BIGSCREEN_SCOPE),
            dcc.Store(id=ids.BIGSCREEN_SELECTED),
            dcc.Interval(id=ids.BIGSCREEN_TICK, interval=5000),
        ],
        className="bigscreen",
    )
