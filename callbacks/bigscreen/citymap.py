"""The big screen's map: the whole figure once per data version (``callbacks.mapkit``), the dense layers'
arrays once after it, the grids recoloured by another metric, the drill-down pickers that scope the screen and
fly the map to the chosen area; layer toggles, the dense layers' view and the wall zoom run in the browser
(``assets/map.js``, ``assets/bigscreen.js``)."""

from __future__ import annotations

import time
from typing import Any

from dash import (
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
)

from callbacks import mapkit
from callbacks.bigscreen.scope import drill_state, keep_to_area, own_area, own_node, scope_bounds
from callbacks.common import read_uow
from data.layers import static_layers
from layouts import ids
from layouts.mapstyle import LAYERS
from layouts.mapviews import AREA_LEVELS


@callback(
    Output(ids.BIGSCREEN_MAP, "figure"),
    Output(ids.BIGSCREEN_MAP_VERSION, "data"),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    Input(ids.BIGSCREEN_MAP_VERSION, "id"),
    State(ids.BIGSCREEN_LAYERS, "value"),
    State(ids.BIGSCREEN_GRID_METRIC, "value"),
)
def load_map(_: str, visible: list[str] | None = None, metric: str | None = None) -> tuple[Any, ...]:
    """Send the whole map once when the page opens, with the digests of its live parts."""
    with read_uow() as session:
        fig, version, digests = mapkit.build_map_figure(session, visible=LAYERS if visible is None else visible,
                                                        metric=metric or "open")
    return fig, list(version), digests


@callback(
    Output(ids.BIGSCREEN_DENSE, "data"),
    Input(ids.BIGSCREEN_MAP_VERSION, "data"),
    prevent_initial_call=True,
)
def load_dense(_version: list[int] | None) -> dict[str, Any]:
    """After the map: the dense layers' arrays, once (``assets/map.js`` draws what the view needs)."""
    with read_uow() as session:
        return mapkit.dense_payload(static_layers(session))


# The view decides what of the dense layers is drawn: cells below CLUSTER_MAXZOOM, points in view above.
clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="dense_view"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_DENSE, "data"),
    Input(ids.BIGSCREEN_VIEW, "data"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data", allow_duplicate=True),
    Input(ids.BIGSCREEN_GRID_METRIC, "value"),
    State(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    prevent_initial_call=True,
)
def recolour_grids(metric: str, digest: dict[str, str] | None) -> tuple[Any, Any]:
    """Colour the grids by another metric (open incidents, cards, workload)."""
    with read_uow() as session:
        layers = static_layers(session)
        live = mapkit.live_map(session, layers, metric)
    return mapkit.live_patch(live, ["grids"]), {**(digest or {}), "grids": live.digests()["grids"]}


# Pure visibility toggles run in the browser: a Patch of ``visible`` on the traces and basemap layers.
clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="toggle_layers"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_LAYERS, "value"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)

# A wall wider than 1920 px: the city zoomed in by log2(width / 1920) once its map arrives.
clientside_callback(
    ClientsideFunction(namespace="cityops_bigscreen", function_name="wall_zoom"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_MAP_VERSION, "data"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.BIGSCREEN_AREA_DISTRICT, "options"),
    Output(ids.BIGSCREEN_AREA_STREET, "options"),
    Output(ids.BIGSCREEN_AREA_COMMUNITY, "options"),
    Output(ids.BIGSCREEN_AREA_GRID, "options"),
    Output(ids.BIGSCREEN_AREA_STREET, "value"),
    Output(ids.BIGSCREEN_AREA_COMMUNITY, "value"),
    Output(ids.BIGSCREEN_AREA_GRID, "value"),
    Output(ids.BIGSCREEN_SCOPE, "data"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_AREA_DISTRICT, "value"),
    Input(ids.BIGSCREEN_AREA_STREET, "value"),
    Input(ids.BIGSCREEN_AREA_COMMUNITY, "value"),
    Input(ids.BIGSCREEN_AREA_GRID, "value"),
    prevent_initial_call="initial_duplicate",
)
def drill_down(district: int | None, street: int | None, community: int | None, grid: int | None) -> tuple[Any, ...]:
    """Choosing an area fills the pickers below it, scopes the panels and zooms the map to it."""
    trigger = next((level for cid, level in AREA_LEVELS if cid == ctx.triggered_id), None)
    with read_uow() as session:
        layers = static_layers(session)
    state = drill_state(layers, {"district": district, "street": street, "community": community, "grid": grid},
                        trigger)
    own = own_node(layers, own_area())
    if own is not None:  # a command tier: framed on its area from the start, and kept inside it
        state = keep_to_area(layers, state, own)
    figure: Any = no_update
    if trigger is not None or own is not None:
        west, south, east, north = scope_bounds(layers, state["scope"])
        figure = mapkit.fly_to(Patch(), lon=(west + east) / 2, lat=(south + north) / 2,
                               zoom=mapkit.fit_zoom((west, south, east, north)), token=f"area-{time.time_ns()}",
                               highlight=False)
    options, values = state["options"], state["values"]
    return (options["district"], options["street"], options["community"], options["grid"],
            values["street"], values["community"], values["grid"], state["scope"], figure)
