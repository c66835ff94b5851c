"""The big screen (/), for 1920×1080 and 3840×2160 video walls: a grid filling the viewport exactly — KPI
tiles across the top (value, change against the previous period, target state), the city map in the centre
(layer switcher, legend, drill-down, search, details, video wall with patrol rotation), on the left the alert
ticker, the latest incidents and the incident trend, on the right the detail card, the lifeline and
environment panel and the rankings. Sizes follow the viewport (assets/bigscreen.css)."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, empty, panel
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
#: What each tile compares against: "month" = this month so far against last month to the same point,
#: "day" = today so far against yesterday to the same time, "now" = now against this time yesterday.
TILE_BASIS = {"by_source": "day", "alerts_firing": "now"}
#: Tiles whose label is not the KPI's own name.
TILE_LABELS = {"by_source": "screen.tile.by_source"}
#: Tiles that also list their parts (alert levels, sources) under the value.
BREAKDOWN_TILES = ("alerts_firing", "by_source")
RANK_PERIODS = ("today", "month")
#: How often the panels (trends, rankings, lifeline and environment) refresh, in ms.
PANEL_INTERVAL_MS = 15_000
#: The colours of the six AQI categories of HJ 633-2012 (优 green … 严重污染 maroon), category n at n - 1.
AQI_COLOURS = ("#00e400", "#ffff00", "#ff7e00", "#ff0000", "#99004c", "#7e0023")


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
                [dropdown(id=cid, placeholder=t(f"map.area.{level}"), className="area-pick")
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
                 dropdown(id=ids.BIGSCREEN_PATROL_INTERVAL, value=10, clearable=False, className="patrol-interval",
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


def wall_tile(key: str) -> html.Div:
    """A KPI tile of the wall (``data-testid=kpi-<key>``): label and comparison basis, then the live part —
    value (``.kpi-value``), change, and for some tiles a breakdown — each written by the refresh through its
    pattern-matching id (``{"type": ids.BIGSCREEN_KPI_VALUE / _CHANGE / _PARTS, "key": key}``)."""
    live = [html.Div("—", id={"type": ids.BIGSCREEN_KPI_VALUE, "key": key}, className="kpi-value kpi-none"),
            html.Div("", id={"type": ids.BIGSCREEN_KPI_CHANGE, "key": key}, className="kpi-change")]
    if key in BREAKDOWN_TILES:
        live.append(html.Div(id={"type": ids.BIGSCREEN_KPI_PARTS, "key": key}, className="kpi-breakdown"))
    return html.Div(
        [
            html.Div([html.Span(t(TILE_LABELS.get(key, f"kpi.{key}")), className="kpi-label-text"),
                      html.Span(t(f"screen.basis.{TILE_BASIS.get(key, 'month')}"), className="kpi-basis")],
                     className="kpi-label"),
            html.Div(live, className="kpi-body"),
        ],
        className=f"kpi-tile wall-tile tile-{key}",
        **{"data-testid": f"kpi-{key}"},
    )


def chip(label: str, colour: str, count: int) -> html.Span:
    """A small coloured count under a tile's value (an alert level, a source)."""
    return html.Span([html.Span(label, className="chip-label"), html.B(count, className="chip-count")],
                     className="chip" + ("" if count else " chip-zero"), style={"--chip": colour})


def rank_row(position: int, name: str, figure: str, share: float, *, rate: str | None = None,
             state: str = "none") -> html.Div:
    """One ranking row: position, name, a bar for ``share`` (0..1 of the top row), the figure and a rate."""
    parts = [html.Span(position, className="rank-no"), html.Span(name, className="rank-name", title=name),
             html.Span(html.I(style={"width": f"{max(0.0, min(share, 1.0)) * 100:.0f}%"}), className="rank-bar"),
             html.Span(figure, className="rank-figure")]
    if rate is not None:
        parts.append(html.Span(rate, className=f"rank-rate kpi-{state}"))
    return html.Div(parts, className="rank-row", **{"data-testid": "rank-row"})


def aqi_view(value: int | None, category: int | None, primary: list[str], stations: int) -> html.Div:
    """The city's current AQI: the number in its category's colour, the category, primary pollutants."""
    if value is None or category is None:
        return empty("screen.aqi.none")
    names = "、".join(t(f"screen.pollutant.{p}") for p in primary)
    return html.Div(
        [html.Div(t("screen.aqi"), className="aqi-label"),
         html.Div(str(value), className="aqi-value", style={"--aqi": AQI_COLOURS[category - 1]},
                  **{"data-testid": "aqi-value"}),
         html.Div(t(f"screen.aqi.cat.{category}"), className="aqi-cat"),
         html.Div(t("screen.aqi.primary", names=names) if names else "", className="aqi-primary"),
         html.Div(t("screen.aqi.stations", n=stations), className="aqi-stations")],
        className="aqi",
    )


def family_cell(family: str, in_alarm: int, total: int, colour: str | None) -> html.Div:
    """A sensor family with its sensors in alarm out of all, coloured by the worst level firing."""
    return html.Div([html.Span(t(f"family.{family}"), className="family-name"),
                     html.Span(f"{in_alarm}/{total}", className="family-count")],
                    className="family-cell" + (" family-alarm" if in_alarm else ""),
                    style={"--family": colour or "transparent"}, **{"data-testid": "family-alarm"})


def _chart(component_id: str, testid: str) -> html.Div:
    """A small static chart (drawn by the panels callback); the box gives it its size."""
    blank = {"data": [], "layout": {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                                    "xaxis": {"visible": False}, "yaxis": {"visible": False},
                                    "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}}
    return html.Div(dcc.Graph(id=component_id, figure=blank, className="wall-chart", responsive=True,
                              config={"displayModeBar": False, "staticPlot": True}),
                    className="chart-box", **{"data-testid": testid})


def _rolling_list(component_id: str) -> html.Div:
    """A live list that rolls slowly through its lines when they are more than its panel shows."""
    return html.Div(id=component_id, className="ticker ticker-roll")


def _trend_panel() -> html.Section:
    return panel(
        t("screen.trend"),
        [html.Div(t("screen.trend.24h"), className="sub-title"), _chart(ids.BIGSCREEN_TREND_24H, "trend-24h"),
         html.Div(t("screen.trend.30d"), className="sub-title"), _chart(ids.BIGSCREEN_TREND_30D, "trend-30d")],
        class_name="panel-trend",
    )


def _lifeline_panel() -> html.Section:
    return panel(
        t("screen.lifeline"),
        [
            html.Div([html.Div(id=ids.BIGSCREEN_AQI, className="aqi-box", **{"data-testid": "aqi"}),
                      _chart(ids.BIGSCREEN_AQI_TREND, "aqi-trend")], className="aqi-row"),
            html.Div(t("screen.families"), className="sub-title"),
            html.Div(id=ids.BIGSCREEN_FAMILIES, className="family-grid"),
            html.Div(id=ids.BIGSCREEN_WARNINGS, className="updated warning-stats", **{"data-testid": "warning-stats"}),
        ],
        class_name="panel-lifeline",
    )


def _rankings_panel() -> html.Section:
    return panel(
        t("screen.rankings"),
        [
            dcc.RadioItems(id=ids.BIGSCREEN_RANK_PERIOD, value="month", className="metric-list rank-period",
                           options=[{"label": t(f"screen.period.{p}"), "value": p} for p in RANK_PERIODS]),
            html.Div(t("screen.rank.categories"), className="sub-title"),
            html.Div(id=ids.BIGSCREEN_RANK_CATEGORIES, className="rank-list"),
            html.Div(t("screen.rank.departments"), className="sub-title"),
            html.Div(id=ids.BIGSCREEN_RANK_DEPARTMENTS, className="rank-list"),
        ],
        class_name="panel-rankings",
    )


def layout(**_query: str) -> html.Div:
    """The big-screen view; data arrives through callbacks (static map once, live parts by Patch, panels at
    a slower cadence)."""
    return html.Div(
        [
            html.Div([wall_tile(k) for k in ids.BIGSCREEN_TILE_KEYS], className="kpi-strip"),
            html.Div(
                [
                    panel(t("bigscreen.alerts"), _rolling_list(ids.BIGSCREEN_ALERT_LIST), class_name="panel-ticker"),
                    panel(t("bigscreen.incidents"), _rolling_list(ids.BIGSCREEN_INCIDENT_LIST),
                          class_name="panel-incidents"),
                    _trend_panel(),
                ],
                className="col col-left",
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
                    _lifeline_panel(),
                    _rankings_panel(),
                    panel(t("screen.hotline"), html.Div(id=ids.BIGSCREEN_HOTLINE, className="hotline-grid"),
                          class_name="panel-hotline", **{"data-testid": "hotline-panel"}),  # issue 20
                    html.Div(id=ids.BIGSCREEN_DUTY, className="updated duty-now", **{"data-testid": "duty-now"}),
                    html.Div(id=ids.BIGSCREEN_UPDATED, className="updated"),
                ],
                className="col col-right",
            ),
            dcc.Store(id=ids.BIGSCREEN_MAP_VERSION),
            dcc.Store(id=ids.BIGSCREEN_DENSE),
            dcc.Store(id=ids.BIGSCREEN_VIEW),
            dcc.Store(id=ids.BIGSCREEN_LIVE_DIGEST),
            dcc.Store(id=ids.BIGSCREEN_LIVE),
            dcc.Store(id=ids.BIGSCREEN_LIVE_HELD),
            dcc.Store(id=ids.BIGSCREEN_PANEL_DIGEST),
            dcc.Store(id=ids.BIGSCREEN_SCALE),
            dcc.Store(id=ids.BIGSCREEN_SCOPE),
            dcc.Store(id=ids.BIGSCREEN_SELECTED),
            dcc.Interval(id=ids.BIGSCREEN_TICK, interval=5000),
            dcc.Interval(id=ids.BIGSCREEN_SLOW_TICK, interval=PANEL_INTERVAL_MS),
        ],
        className="bigscreen",
    )
