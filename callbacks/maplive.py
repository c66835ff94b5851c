"""The live layers of the big screen's map: every open incident and every firing alert, however many.

Every 5 s (and as soon as the map has arrived) the server writes into a Store what changed since the digest
the browser holds (``mapkit.live_store``): the whole set once, then deltas. ``assets/map.js`` draws them for
the view — cells with counts below ``mapkit.CLUSTER_MAXZOOM``, points from it — and keeps the totals badge
current. A handler sees only their department's incidents (``dispatch.service.visible_to``), as in the API.
"""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update

from callbacks import mapkit
from callbacks.common import uow
from data.layers import static_layers
from layouts import ids


@callback(
    Output(ids.BIGSCREEN_LIVE, "data"),
    Output(ids.BIGSCREEN_LIVE_HELD, "data"),
    Input(ids.BIGSCREEN_TICK, "n_intervals"),
    Input(ids.BIGSCREEN_MAP_VERSION, "data"),
    State(ids.BIGSCREEN_LIVE_HELD, "data"),
    prevent_initial_call=True,
)
def refresh_live(_n: int | None, map_version: list[int] | None, held: str | None = None) -> tuple[Any, Any]:
    """The live layers for the signed-in reader: everything the first time, then a Patch of what changed
    (``no_update`` when nothing did), and the digest of what the Store then holds."""
    if map_version is None:  # the map has not arrived: nothing to draw into yet
        return no_update, no_update
    user = mapkit.reader()
    with uow() as session:
        ref_lat = static_layers(session).center[1]
        points = mapkit.live_points(session, mapkit.reader_visible(user))
    value, digest = mapkit.live_store(points, ref_lat=ref_lat, scope=mapkit.reader_scope(user), held=held)
    return value, no_update if digest == held else digest


# What of the live layers the view needs: cells below CLUSTER_MAXZOOM, every point in view from it.
clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="live_view"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_LIVE, "data"),
    Input(ids.BIGSCREEN_VIEW, "data"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)
