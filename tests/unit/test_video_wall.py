"""The video wall's callbacks (issue 19): cells with the playback URL of each camera, the picker, and patrol
plans — saved from the wall (shared, audited, refused with a clear message when wrong) and run on it a page
of cameras per dwell time, pausable."""

from __future__ import annotations

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict
from sqlalchemy import select

from callbacks import video
from data.models import AuditLog, Camera, VideoPlatform
from layouts import ids
from settings import get_settings
from tests.unit.test_pages import callback_context, city, server, signed_in  # noqa: F401

CODES = [f"CAM-{i}" for i in range(6)]


def trigger(component: str, prop: str = "n_clicks") -> None:
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{component}.{prop}", "value": 1}]))


@pytest.fixture
def cameras(db, city):  # noqa: F811
    with db.uow() as s:
        platform = VideoPlatform(code="P", name="P")
        s.add(platform)
        s.flush()
        s.add_all([Camera(code=code, name=f"东门{code}", platform_id=platform.id, type="dome", status="online",
                          stream_url=f"http://gw/{code}/index.m3u8", lon=117.0, lat=36.6) for code in CODES])
    return CODES


def test_the_wall_draws_its_cells_and_the_picker_finds_cameras(server, city, cameras):  # noqa: F811
    with signed_in(server, city.operator):
        cells, class_name, options = video.draw_wall(4, [CODES[0], None, "NOPE"])
        assert class_name == "video-wall wall-4" and len(cells) == 4 and len(options) == 4
        assert [c.to_plotly_json()["props"]["data-camera"] for c in cells] == [CODES[0], "", "NOPE", ""]
        found = video.search_cameras("CAM-1", None)
        assert [o["value"] for o in found] == ["CAM-1"]
        assert [o["value"] for o in video.search_cameras("东门", None)] == CODES
        assert video.search_cameras("%", None) == []  # a LIKE wildcard is a literal
        trigger(ids.VIDEO_PUT)
        placed, _message = video.put_camera(1, 0, "CAM-3", 2, [None] * 16)
        assert placed[2] == "CAM-3" and placed.count(None) == 15


def test_walls_of_nine_and_sixteen_cells_play_sub_streams(server, db, city, monkeypatch):  # noqa: F811
    with db.uow() as s:
        platform = VideoPlatform(code="RT", name="RTSP platform")
        s.add(platform)
        s.flush()
        s.add(Camera(code="RT-1", name="南门", platform_id=platform.id, type="dome", status="online",
                     stream_url="rtsp://video.city/live/1", lon=117.0, lat=36.6))
    monkeypatch.setenv("CITYOPS_VIDEO_GATEWAY", "http://gw:8888/{code}/index.m3u8")
    monkeypatch.setenv("CITYOPS_VIDEO_GATEWAY_SUB", "http://gw:8888/{code}_sub/index.m3u8")
    get_settings.cache_clear()
    try:
        with signed_in(server, city.operator):
            sources = {size: [c.to_plotly_json()["props"] for c in video.draw_wall(size, ["RT-1"])[0]]
                       for size in (1, 4, 9, 16)}
    finally:
        get_settings.cache_clear()
    played = {size: str(cells[0]) for size, cells in sources.items()}
    assert all("http://gw:8888/RT-1/index.m3u8" in played[size] for size in (1, 4))
    assert all("http://gw:8888/RT-1_sub/index.m3u8" in played[size] for size in (9, 16))


def test_the_wall_is_saved_as_a_plan_and_runs_a_page_per_dwell_time(server, db, city, cameras):  # noqa: F811
    wall = CODES[:4] + [None] * 12
    with signed_in(server, city.operator, lang="en"):
        options, message = video.save_plan(1, "gate patrol", 5, wall, 4)
        assert options == [{"label": "gate patrol", "value": "gate patrol"}]
        assert message == "Patrol plan gate patrol saved"
        # a longer plan (saved through the API or a 9-cell wall) pages through a 4-cell wall
        video.save_plan(2, "all gates", 3, CODES + [None] * 10, 9)
        trigger(ids.VIDEO_PLAN_RUN)
        state, disabled, interval, shown, label = video.run_plan(1, 0, "all gates", None, 4)
        assert not disabled and interval == 3000 and shown[:4] == CODES[:4] and label == "Pause patrol"
        trigger(ids.VIDEO_PLAN_TICK, "n_intervals")
        state, _, _, shown, _ = video.run_plan(1, 1, "all gates", state, 4)
        assert shown[:4] == [*CODES[4:], None, None] and state["step"] == 1
        trigger(ids.VIDEO_PLAN_RUN)  # pause: the wall stays, the timer stops
        state, disabled, _, shown, label = video.run_plan(2, 1, "all gates", state, 4)
        assert disabled and not state["running"] and label == "Run patrol"
        trigger(ids.VIDEO_PLAN_TICK, "n_intervals")
        assert video.run_plan(2, 2, "all gates", state, 4)[3] is video.no_update
        trigger(ids.VIDEO_PLAN_RUN)  # resume where it stopped
        state, disabled, _, _, _ = video.run_plan(3, 2, "all gates", state, 4)
        assert not disabled and state["step"] == 1
    with db.uow() as s:
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "patrol_plan.save")).all() == \
            ["patrol_plan.save"] * 2


@pytest.mark.parametrize(("name", "dwell", "wall", "message"), [
    ("p", 2, CODES[:2], "The dwell time must be 3 to 3600 seconds"),
    ("p", None, CODES[:2], "The dwell time must be 3 to 3600 seconds"),
    ("", 5, CODES[:2], "Give the plan a name (at most 64 characters)"),
    ("p", 5, [], "Put cameras on the wall first"),
    ("p", 5, ["NOPE"], "The wall shows a camera that does not exist"),
])
def test_a_wrong_plan_is_refused_with_a_clear_message(server, city, cameras, name, dwell, wall,  # noqa: F811
                                                      message):
    with signed_in(server, city.operator, lang="en"):
        options, said = video.save_plan(1, name, dwell, wall + [None] * 4, 4)
    assert said == message and options == []


def test_found_cameras_are_listed_for_dragging_and_a_drop_puts_one_in_its_cell(server, city, cameras):  # noqa: F811
    with signed_in(server, city.operator, lang="en"):
        items = video.list_cameras(video.search_cameras("东门", None))
        assert [item.to_plotly_json()["props"]["data-camera"] for item in items] == CODES
        assert all(item.draggable == "true" for item in items)
        wall = [CODES[0]] + [None] * 15
        placed, message = video.drop_camera({"code": "CAM-4", "cell": 3, "at": 1}, wall)
        assert placed[:4] == [CODES[0], None, None, "CAM-4"] and message == "CAM-4 is in cell 4"
        for bad in (None, {"code": "CAM-4", "cell": 16}, {"code": "", "cell": 0}, {"code": "CAM-4", "cell": "1"}):
            assert video.drop_camera(bad, wall) == (video.no_update, video.no_update)


def test_the_map_beside_the_wall_shows_the_playing_cameras_on_the_offline_basemap(server, db, city, cameras):  # noqa: F811
    with db.uow() as s:
        camera = s.scalar(select(Camera).where(Camera.code == "CAM-2"))
        camera.lon, camera.lat, camera.status = 117.01, 36.61, "offline"
    with signed_in(server, city.operator):
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": ".", "value": None}]))  # the first draw
        fig = video.wall_map(["CAM-1", None, "CAM-2", "NOPE", "CAM-5"], 4)  # CAM-5 is in a cell the wall hides
        trigger(ids.VIDEO_CAMERAS, "data")  # then a change of the wall: the points and the view only
        patch = video.wall_map(["CAM-3"], 4).to_plotly_json()
    assert isinstance(patch, dict) and "layers" not in str(patch) and "'CAM-3'" in str(patch)
    trace = fig.data[0]
    assert list(trace.customdata) == ["CAM-1", "CAM-2"] and list(trace.text) == ["1", "3"]
    assert list(trace.lon) == [117.0, 117.01] and trace.marker.color[1] == "#5e6b7a"  # offline grey
    style = fig.layout.map.style
    assert all(source.get("type") != "raster" and "tiles" not in source for source in style["sources"].values())
    assert 117.0 <= fig.layout.map.center.lon <= 117.01
    # the zoom fits the cameras into the 300-px panel: 0.14° of longitude needs zoom ~10.5 (the big screen's
    # fit would be ~12.5, and the cameras would lie outside the panel); one spot is shown closer
    assert 10 < video.panel_zoom((116.95, 36.66, 117.09, 36.68)) < 11
    assert 14 < video.panel_zoom((117.0, 36.6, 117.0, 36.6)) <= video.MAX_ZOOM
