"""The big screen's video wall and its patrol rotation (轮巡): the wall opens on a camera, the cameras to rotate
through (the chosen area's, the clicked one first, or the saved list) and the one on screen; opening,
saving and play/pause run in the browser (``assets/map.js``)."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback

from callbacks.bigscreen.scope import scope_grid_ids
from callbacks.common import uow
from data.layers import static_layers
from data.map_details import patrol_cameras
from layouts import ids
from layouts.mapviews import patrol_screen

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="video_wall_open"),
    Output(ids.BIGSCREEN_VIDEOWALL, "className"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
    Input(ids.BIGSCREEN_VIDEOWALL_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="patrol_saved"),
    Output(ids.BIGSCREEN_PATROL_SAVED, "data"),
    Input(ids.BIGSCREEN_PATROL_SAVE, "n_clicks"),
    Input(ids.BIGSCREEN_PATROL_CLEAR, "n_clicks"),
    State(ids.BIGSCREEN_SELECTED, "data"),
    State(ids.BIGSCREEN_PATROL_SAVED, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="patrol_play"),
    Output(ids.BIGSCREEN_PATROL_TICK, "disabled"),
    Output(ids.BIGSCREEN_PATROL_TICK, "interval"),
    Input(ids.BIGSCREEN_PATROL_PLAY, "n_clicks"),
    Input(ids.BIGSCREEN_PATROL_INTERVAL, "value"),
    State(ids.BIGSCREEN_PATROL_TICK, "disabled"),
)


@callback(
    Output(ids.BIGSCREEN_PATROL_LIST, "data"),
    Output(ids.BIGSCREEN_PATROL_TICK, "n_intervals"),
    Input(ids.BIGSCREEN_PATROL_SOURCE, "value"),
    Input(ids.BIGSCREEN_SCOPE, "data"),
    Input(ids.BIGSCREEN_PATROL_SAVED, "data"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
)
def patrol_list(source: str, scope: dict[str, Any] | None, saved: list[int] | None,
                selected: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int]:
    """The cameras to rotate through: the chosen area's (the clicked camera first), or the saved list;
    the rotation starts again at the first one."""
    with uow() as session:
        if source == "saved":
            cameras = patrol_cameras(session, camera_ids=[int(c) for c in saved or []])
        else:
            cameras = patrol_cameras(session, grid_ids=scope_grid_ids(static_layers(session), scope))
            if selected and selected.get("kind") == "camera":
                first = patrol_cameras(session, camera_ids=[int(selected["id"])])
                cameras = first + [c for c in cameras if c.id != int(selected["id"])]
    return [{"id": c.id, "code": c.code, "name": c.name, "status": c.status, "stream_url": c.stream_url}
            for c in cameras], 0


@callback(
    Output(ids.BIGSCREEN_PATROL_SCREEN, "children"),
    Input(ids.BIGSCREEN_PATROL_TICK, "n_intervals"),
    State(ids.BIGSCREEN_PATROL_LIST, "data"),
)
def patrol_tick(n: int | None, cameras: list[dict[str, Any]] | None) -> Any:
    """Show camera ``n`` of the rotation (cycling)."""
    cameras = cameras or []
    if not cameras:
        return patrol_screen(None, 0, 0)
    position = (n or 0) % len(cameras)
    return patrol_screen(cameras[position], position + 1, len(cameras))
