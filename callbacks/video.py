"""Callbacks of the video wall (/video, issue 19): draw the cells of the chosen layout with each camera's
playback URL (``dispatch.video.playback_url``), search cameras for the picker and list them beside the wall
for dragging, put a picked or dropped camera in a cell, draw the map of the playing cameras; save the wall's
cameras as a shared patrol plan (audited) and run a plan on the wall, a page per dwell time."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, ctx, no_update
from flask_login import current_user

from callbacks.common import uow
from callbacks.mapkit import basemap_layers
from data.layers import static_layers
from dispatch.queries import camera_name, cameras_by_code, cameras_matching, patrol_plan_by_name, patrol_plans
from dispatch.service import InvalidInput
from dispatch.video import SUB_STREAM_CELLS, UnplayableStream, patrol_page, playback_url, save_patrol_plan
from geo.layers import offline_style
from i18n import t
from layouts import ids
from layouts.mapstyle import BACKGROUND, CAMERA_COLOURS
from layouts.video import LAYOUTS, CellCamera, camera_item, video_cell
from settings import get_settings

#: The picker lists at most this many cameras per search.
PICK_LIMIT = 20


def cell_cameras(session: Any, codes: list[str | None], *, sub_stream: bool = False) -> list[CellCamera | None]:
    """What each cell shows for ``codes`` (None = an empty cell): playback (the sub-stream with
    ``sub_stream`` where the gateway offers one), or why the camera cannot play."""
    wanted = [code for code in codes if code]
    found = cameras_by_code(session, wanted)
    settings = get_settings()
    cells: list[CellCamera | None] = []
    for code in codes:
        camera = found.get(code) if code else None
        if not code:
            cells.append(None)
        elif camera is None:
            cells.append(CellCamera(code, error="unknown_camera"))
        else:
            try:
                playback = playback_url(camera, settings, sub_stream=sub_stream)
            except UnplayableStream as exc:
                cells.append(CellCamera(code, camera.name, camera.status, error=exc.code))
            else:
                cells.append(CellCamera(code, camera.name, camera.status, playback.kind, playback.url))
    return cells


@callback(
    Output(ids.VIDEO_WALL, "children"),
    Output(ids.VIDEO_WALL, "className"),
    Output(ids.VIDEO_CELL_CHOICE, "options"),
    Input(ids.VIDEO_LAYOUT, "value"),
    Input(ids.VIDEO_CAMERAS, "data"),
)
def draw_wall(size: int | None, codes: list[str | None] | None) -> tuple[list, str, list[dict[str, Any]]]:
    """The cells of a ``size`` wall (1, 4, 9 or 16) with the first ``size`` cameras of ``codes``."""
    size = size if size in LAYOUTS else 4
    codes = list(codes or [])[:size]
    codes += [None] * (size - len(codes))
    with uow() as session:
        cells = cell_cameras(session, codes, sub_stream=size >= SUB_STREAM_CELLS)
    options = [{"label": t("video.cell_n", n=i + 1), "value": i} for i in range(size)]
    return [video_cell(i, cell) for i, cell in enumerate(cells)], f"video-wall wall-{size}", options


@callback(
    Output(ids.VIDEO_PICK, "options"),
    Input(ids.VIDEO_PICK, "search_value"),
    State(ids.VIDEO_PICK, "value"),
    prevent_initial_call=True,
)
def search_cameras(query: str | None, current: str | None) -> Any:
    """Cameras whose code starts with, or whose name contains, ``query`` (the chosen one kept)."""
    query = (query or "").strip()
    if not query:
        return no_update
    with uow() as session:
        rows = cameras_matching(session, query, PICK_LIMIT)
        options = [{"label": f"{name} ({code})", "value": code} for code, name in rows]
        if current and current not in {row.code for row in rows}:
            name = camera_name(session, current)
            options.insert(0, {"label": f"{name} ({current})", "value": current})
    return options


@callback(Output(ids.VIDEO_LIST, "children"), Input(ids.VIDEO_PICK, "options"), prevent_initial_call=True)
def list_cameras(options: list[dict[str, str]] | None) -> Any:
    """The cameras the picker found, beside the wall, each draggable onto a cell."""
    if not options:
        return no_update
    return [camera_item(option["value"], option["label"]) for option in options]


def place(codes: list[str | None] | None, code: str, cell: int) -> list[str | None]:
    """The wall's cameras with ``code`` in ``cell`` (from 0)."""
    size = LAYOUTS[-1]
    placed = (list(codes or []) + [None] * size)[:size]
    placed[cell] = code
    return placed


@callback(
    Output(ids.VIDEO_CAMERAS, "data", allow_duplicate=True),
    Output(ids.VIDEO_MESSAGE, "children", allow_duplicate=True),
    Input(ids.VIDEO_DROP, "data"),
    State(ids.VIDEO_CAMERAS, "data"),
    prevent_initial_call=True,
)
def drop_camera(dropped: dict[str, Any] | None, codes: list[str | None] | None) -> tuple[Any, Any]:
    """Put the camera dragged onto a cell (``{"code", "cell"}`` from assets/video_tools.js) in that cell."""
    code = (dropped or {}).get("code")
    cell = (dropped or {}).get("cell")
    if not isinstance(code, str) or not code.strip() or not isinstance(cell, int) or not 0 <= cell < LAYOUTS[-1]:
        return no_update, no_update
    return place(codes, code.strip(), cell), t("video.placed", code=code.strip(), n=cell + 1)


#: The map beside the wall: its width in CSS pixels (assets/video.css), the closest zoom, and the room left
#: around the cameras (a share of their spread, plus degrees).
MAP_PX = 300
MAX_ZOOM = 16
MARGIN = 1.3
PAD_DEG = 0.003


def panel_zoom(bounds: tuple[float, float, float, float]) -> float:
    """The zoom at which ``bounds`` (west, south, east, north) fits the map beside the wall (512-px tiles)."""
    west, south, east, north = bounds
    lon_span = max((east - west) * MARGIN + 2 * PAD_DEG, 1e-6)
    lat_span = max(((north - south) * MARGIN + 2 * PAD_DEG) / math.cos(math.radians((north + south) / 2)), 1e-6)
    return round(min(math.log2(MAP_PX * 360 / (512 * max(lon_span, lat_span))), MAX_ZOOM), 2)


@callback(
    Output(ids.VIDEO_MAP, "figure"),
    Input(ids.VIDEO_CAMERAS, "data"),
    Input(ids.VIDEO_LAYOUT, "value"),
)
def wall_map(codes: list[str | None] | None, size: int | None) -> go.Figure | Patch:
    """The city's offline basemap with the cameras of the wall's cells, each labelled with its cell number; once
    drawn, a change of the wall sends only the points and the view (a ``Patch``), not the basemap again."""
    size = size if size in LAYOUTS else 4
    shown = [(i, code) for i, code in enumerate(list(codes or [])[:size]) if code]
    with uow() as session:
        found = cameras_by_code(session, [code for _i, code in shown])
        layers = static_layers(session)
        playing = [(i, found[code]) for i, code in shown if code in found]
        points = {
            "lon": [camera.lon for _i, camera in playing], "lat": [camera.lat for _i, camera in playing],
            "text": [str(i + 1) for i, _camera in playing], "customdata": [camera.code for _i, camera in playing],
            "hovertext": [f"{i + 1}: {camera.name} ({camera.code})" for i, camera in playing],
            "marker.color": [CAMERA_COLOURS.get(camera.status, CAMERA_COLOURS["online"]) for _i, camera in playing],
        }
        bounds = ((min(points["lon"]), min(points["lat"]), max(points["lon"]), max(points["lat"])) if playing
                  else layers.bounds)
        view = {"zoom": panel_zoom(bounds), "center": {"lon": (bounds[0] + bounds[2]) / 2,
                                                       "lat": (bounds[1] + bounds[3]) / 2}}
        map_layers = None if ctx.triggered_id else basemap_layers(layers.basemap, ("basemap", "boundaries"))[0]
    if map_layers is None:  # the wall changed: the figure in the browser keeps its basemap
        patch = Patch()
        for key, value in points.items():
            if key == "marker.color":
                patch["data"][0]["marker"]["color"] = value
            else:
                patch["data"][0][key] = value
        patch["layout"]["map"]["zoom"], patch["layout"]["map"]["center"] = view["zoom"], view["center"]
        patch["layout"]["meta"] = {"cameras": points["customdata"]}
        return patch
    fig = go.Figure(go.Scattermap(
        # markers only: a text label needs glyphs, which the offline style does not have
        lon=points["lon"], lat=points["lat"], mode="markers", text=points["text"],
        marker={"size": 14, "color": points["marker.color"]},
        customdata=points["customdata"], hovertext=points["hovertext"], hoverinfo="text"))
    fig.update_layout(
        template=None, showlegend=False, paper_bgcolor=BACKGROUND, margin={"l": 0, "r": 0, "t": 0, "b": 0},
        map={"style": offline_style(BACKGROUND), "layers": map_layers, **view},
        meta={"cameras": points["customdata"]},
    )
    return fig


@callback(
    Output(ids.VIDEO_CAMERAS, "data"),
    Output(ids.VIDEO_MESSAGE, "children"),
    Input(ids.VIDEO_PUT, "n_clicks"),
    Input(ids.VIDEO_CLEAR, "n_clicks"),
    State(ids.VIDEO_PICK, "value"),
    State(ids.VIDEO_CELL_CHOICE, "value"),
    State(ids.VIDEO_CAMERAS, "data"),
    prevent_initial_call=True,
)
def put_camera(_put: int, _clear: int, code: str | None, cell: int | None,
               codes: list[str | None] | None) -> tuple[Any, str]:
    """Put the picked camera in the chosen cell, or empty the wall."""
    size = LAYOUTS[-1]
    if ctx.triggered_id == ids.VIDEO_CLEAR:
        return [None] * size, ""
    if not code:
        return no_update, t("video.pick_first")
    if not isinstance(cell, int) or not 0 <= cell < size:
        return no_update, t("video.pick_cell")
    return place(codes, code, cell), t("video.placed", code=code, n=cell + 1)


@callback(
    Output(ids.VIDEO_PLAN, "options"),
    Output(ids.VIDEO_PLAN_MESSAGE, "children"),
    Input(ids.VIDEO_PLAN_SAVE, "n_clicks"),
    State(ids.VIDEO_PLAN_NAME, "value"),
    State(ids.VIDEO_PLAN_DWELL, "value"),
    State(ids.VIDEO_CAMERAS, "data"),
    State(ids.VIDEO_LAYOUT, "value"),
)
def save_plan(clicks: int | None, name: str | None, dwell: Any, codes: list[str | None] | None,
              size: int | None) -> tuple[list[dict[str, str]], str]:
    """List the shared patrol plans; on a click first save the wall's cameras as plan ``name`` (a clear
    message, nothing saved, for a blank name, an empty wall or a dwell time under 3 s)."""
    message = ""
    with uow() as session:
        if clicks:
            cameras = [code for code in (codes or [])[: size if size in LAYOUTS else 4] if code]
            try:
                dwell_s = int(dwell) if isinstance(dwell, int | float) else -1
                plan = save_patrol_plan(session, name=name or "", camera_codes=cameras, dwell_s=dwell_s,
                                        user_id=current_user.id)
            except InvalidInput as exc:
                message = t(f"video.plan_error.{exc.code}")
            else:
                message = t("video.plan_saved", name=plan.name)
        names = [plan.name for plan in patrol_plans(session)]
    return [{"label": n, "value": n} for n in names], message


@callback(
    Output(ids.VIDEO_PLAN_STATE, "data"),
    Output(ids.VIDEO_PLAN_TICK, "disabled"),
    Output(ids.VIDEO_PLAN_TICK, "interval"),
    Output(ids.VIDEO_CAMERAS, "data", allow_duplicate=True),
    Output(ids.VIDEO_PLAN_RUN, "children"),
    Input(ids.VIDEO_PLAN_RUN, "n_clicks"),
    Input(ids.VIDEO_PLAN_TICK, "n_intervals"),
    State(ids.VIDEO_PLAN, "value"),
    State(ids.VIDEO_PLAN_STATE, "data"),
    State(ids.VIDEO_LAYOUT, "value"),
    prevent_initial_call=True,
)
def run_plan(_run: int, _tick: int, name: str | None, state: dict[str, Any] | None, size: int | None) -> tuple:
    """Run the chosen plan (its first page now, the next every dwell time), pause it, or resume it."""
    size = size if size in LAYOUTS else 4
    running = bool(state and state.get("running"))
    if ctx.triggered_id == ids.VIDEO_PLAN_TICK:
        if not running:
            return no_update, True, no_update, no_update, no_update
        state = {**state, "step": state["step"] + 1}
    elif running:  # pause
        return {**state, "running": False}, True, no_update, no_update, t("video.plan_run")
    elif state and state.get("name") == name:  # resume where it stopped
        state = {**state, "running": True}
    else:
        with uow() as session:
            plan = patrol_plan_by_name(session, name)
            if plan is None:
                return no_update, True, no_update, no_update, t("video.plan_run")
            state = {"name": plan.name, "cameras": list(plan.camera_codes), "dwell_s": plan.dwell_s, "step": 0,
                     "running": True}
    page = patrol_page(state["cameras"], size, state["step"])
    cameras = page + [None] * (LAYOUTS[-1] - len(page))
    return state, False, state["dwell_s"] * 1000, cameras, t("video.plan_pause")
