"""The video wall (视频墙, /video; issue 19): layouts of 1, 4, 9 or 16 cells, each (``data-testid="video-cell"``)
holding a muted ``<video>`` that assets/video.js plays with the vendored hls.js or over WebRTC from a WHEP
endpoint (assets/video_whep.js), or an image for MJPEG/JPEG cameras; ``/video?cameras=A,B`` opens those cameras;
a picker (search by code or name) puts a camera in a cell, or its results are dragged onto a cell; each cell's
snapshot button sends the frame to an incident or an emergency event (assets/video_tools.js); the map beside
the wall shows where each playing camera is. The messages the browser shows are carried as ``data-msg-*``
attributes (of the wall, and of the snapshot message)."""

from __future__ import annotations

from dataclasses import dataclass

from dash import dcc, html

from dispatch.video import MAX_DWELL_S, MIN_DWELL_S
from i18n import t
from layouts import ids
from layouts.components import dropdown

#: The wall layouts: cells per wall (a square grid).
LAYOUTS = (1, 4, 9, 16)
#: What video.js can tell apart from hls.js's error events (``video.error.<code>``).
PLAYER_ERRORS = ("not_found", "gateway_down", "codec", "network", "media", "whep")
#: The kinds of playback a ``<video>`` of a cell plays (the others are images).
VIDEO_KINDS = ("hls", "whep")
#: The snapshot messages assets/video_tools.js shows (``data-msg-<key>``, i18n ``video2.snap_<key>``).
SNAP_MESSAGES = ("saved", "no_target", "blank", "failed")


@dataclass(frozen=True)
class CellCamera:
    """What a cell shows of its camera: the playback (``kind``, ``url``) or why it cannot play (``error``)."""

    code: str
    name: str = ""
    status: str = ""
    kind: str = ""
    url: str = ""
    error: str = ""


def parse_codes(raw: str | None) -> list[str]:
    """The camera codes of ``?cameras=A,B`` (blanks and repeats dropped, at most the largest wall)."""
    codes = [code.strip() for code in (raw or "").split(",") if code.strip()]
    return list(dict.fromkeys(codes))[: LAYOUTS[-1]]


def fitting_layout(count: int) -> int:
    """The smallest wall layout with room for ``count`` cameras (4 when there are none)."""
    return next((size for size in LAYOUTS if size >= count), LAYOUTS[-1]) if count else 4


def video_cell(index: int, camera: CellCamera | None) -> html.Div:
    """Cell ``index`` (from 0): a title bar with a full-screen button, the ``<video>`` (or the image of an
    MJPEG/JPEG camera) and the line saying what failed."""
    video_attrs = {"data-src": camera.url, "data-kind": camera.kind} if camera and camera.kind in VIDEO_KINDS else {}
    player = html.Video(className="video-player", muted=True, autoPlay=True, controls=False,
                        **{"data-testid": "video-player", **video_attrs})
    body: list = [player]
    if camera and camera.kind in ("mjpeg", "jpeg"):
        body.append(html.Img(src=camera.url, className="video-image", alt=camera.name))
    if camera is None:
        title: list = [html.Span(t("video.empty_cell"), className="video-cell-name")]
    else:
        title = [html.Span(camera.name or camera.code, className="video-cell-name"),
                 html.Span(camera.code, className="video-cell-code")]
        if camera.status:
            title.append(html.Span(t(f"map.camera.{camera.status}"), className=f"video-status {camera.status}"))
        if camera.kind:
            title.append(html.Button(t("video2.snapshot"), title=t("video2.snapshot"), className="video-snapshot",
                                     **{"data-testid": "video-snapshot"}))
    title.append(html.Button("⛶", title=t("video.fullscreen"), className="video-fullscreen", n_clicks=0))
    error = t(f"video.error.{camera.error}") if camera and camera.error else ""
    return html.Div(
        [html.Div(title, className="video-cell-title"), html.Div(body, className="video-frame"),
         html.Div(error, className="video-error", **{"data-testid": "video-error"})],
        className=f"video-cell{' has-error' if error else ''}",
        **{"data-testid": "video-cell", "data-cell": str(index), "data-camera": camera.code if camera else ""},
    )


def layout(cameras: str | None = None, **_query: str) -> html.Div:
    """The wall with the cameras of ``?cameras=`` in its first cells; the cells arrive through a callback."""
    codes = parse_codes(cameras)
    size = fitting_layout(len(codes))
    head = html.Div(
        [
            dcc.RadioItems(id=ids.VIDEO_LAYOUT, value=size,
                           options=[{"label": t(f"video.layout.{n}"), "value": n} for n in LAYOUTS],
                           inline=True, className="video-layouts"),
            dropdown(id=ids.VIDEO_PICK, placeholder=t("video.pick"), className="video-pick", options=[]),
            dropdown(id=ids.VIDEO_CELL_CHOICE, placeholder=t("video.cell"), className="video-cell-choice",
                         clearable=False, value=0, options=[]),
            html.Button(t("video.put"), id=ids.VIDEO_PUT, className="btn", n_clicks=0,
                        **{"data-testid": "video-put"}),
            html.Button(t("video.clear"), id=ids.VIDEO_CLEAR, className="btn", n_clicks=0),
            html.Div(id=ids.VIDEO_MESSAGE, className="video-message", **{"data-testid": "video-message"}),
        ],
        className="video-head",
    )
    patrol = html.Div(
        [
            dropdown(id=ids.VIDEO_PLAN, placeholder=t("video.plan"), className="video-plan", options=[]),
            html.Button(t("video.plan_run"), id=ids.VIDEO_PLAN_RUN, className="btn", n_clicks=0,
                        **{"data-testid": "video-plan-run"}),
            dcc.Input(id=ids.VIDEO_PLAN_NAME, type="text", maxLength=64, placeholder=t("video.plan_name")),
            dcc.Input(id=ids.VIDEO_PLAN_DWELL, type="number", min=MIN_DWELL_S, max=MAX_DWELL_S, step=1, value=10),
            html.Button(t("video.plan_save"), id=ids.VIDEO_PLAN_SAVE, className="btn", n_clicks=0),
            html.Div(id=ids.VIDEO_PLAN_MESSAGE, className="video-message", **{"data-testid": "video-plan-message"}),
            dcc.Interval(id=ids.VIDEO_PLAN_TICK, interval=10_000, disabled=True),
            dcc.Store(id=ids.VIDEO_PLAN_STATE, data=None),
        ],
        className="video-head video-patrol",
    )
    messages = {f"data-msg-{code}": t(f"video.error.{code}") for code in PLAYER_ERRORS}
    return html.Div(
        [
            head,
            patrol,
            snapshot_bar(),
            dcc.Store(id=ids.VIDEO_CAMERAS, data=codes + [None] * (LAYOUTS[-1] - len(codes))),
            dcc.Store(id=ids.VIDEO_DROP, data=None),
            html.Div([html.Div(id=ids.VIDEO_WALL, className=f"video-wall wall-{size}", **messages), side_panel()],
                     className="video-body"),
        ],
        className="video-page",
    )


def snapshot_bar() -> html.Div:
    """Where the cells' snapshots go: an incident (by code) or an emergency event (by id), and the line that
    says what became of the last one."""
    return html.Div(
        [
            html.Span(t("video2.snap_to"), className="video-snap-label"),
            dcc.RadioItems(id=ids.VIDEO_SNAP_KIND, value="incident", inline=True, className="video-snap-kind",
                           options=[{"label": t(f"video2.snap_to.{kind}"), "value": kind}
                                    for kind in ("incident", "event")]),
            dcc.Input(id=ids.VIDEO_SNAP_TARGET, type="text", maxLength=40, placeholder=t("video2.snap_target")),
            html.Div(id=ids.VIDEO_SNAP_MESSAGE, className="video-message", **{"data-testid": "video-snap-message"},
                     **{f"data-msg-{key}": t(f"video2.snap_{key}") for key in SNAP_MESSAGES}),
        ],
        className="video-head video-snap",
    )


def side_panel() -> html.Div:
    """Beside the wall: the cameras the picker found (drag one onto a cell) and the map of the playing ones."""
    return html.Div(
        [
            html.Div(t("video2.list_title"), className="video-side-title"),
            html.Div(html.Div(t("video2.list_empty"), className="video-list-empty"), id=ids.VIDEO_LIST,
                     className="video-list", **{"data-testid": "video-list"}),
            html.Div(t("video2.map_title"), className="video-side-title"),
            dcc.Graph(id=ids.VIDEO_MAP, className="video-map", config={"displayModeBar": False},
                      figure={"data": [], "layout": {"paper_bgcolor": "rgba(0,0,0,0)"}}, responsive=True),
        ],
        className="video-side",
    )


def camera_item(code: str, label: str) -> html.Div:
    """One camera of the list beside the wall (``label``: its name and code), draggable onto a cell
    (assets/video_tools.js)."""
    return html.Div(label, className="video-list-item", draggable="true", title=label,
                    **{"data-camera": code, "data-testid": "video-list-item"})
