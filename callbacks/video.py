"""Callbacks of the video wall (/video, issue 19): draw the cells of the chosen layout with each camera's
playback URL (``dispatch.video.playback_url``), search cameras for the picker, put a camera in a cell; save
the wall's cameras as a shared patrol plan (audited) and run a plan on the wall, a page per dwell time."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from flask_login import current_user

from callbacks.common import uow
from dispatch.queries import camera_name, cameras_by_code, cameras_matching, patrol_plan_by_name, patrol_plans
from dispatch.service import InvalidInput
from dispatch.video import UnplayableStream, patrol_page, playback_url, save_patrol_plan
from i18n import t
from layouts import ids
from layouts.video import LAYOUTS, CellCamera, video_cell
from settings import get_settings

#: The picker lists at most this many cameras per search.
PICK_LIMIT = 20


def cell_cameras(session: Any, codes: list[str | None]) -> list[CellCamera | None]:
    """What each cell shows for ``codes`` (None = an empty cell): playback, or why the camera cannot play."""
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
                playback = playback_url(camera, settings)
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
        cells = cell_cameras(session, codes)
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
    codes = (list(codes or []) + [None] * size)[:size]
    codes[cell] = code
    return codes, t("video.placed", code=code, n=cell + 1)


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
