"""Video (issue 19): playback URLs of cameras (HLS, MJPEG/JPEG, RTSP through the gateway template, clear errors),
the Content Security Policy's video origins, the camera API (DESIGN §4), the wall's cells, and the probe's
judgement of a playlist (ended, stale, moving)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import api.cameras  # noqa: F401  (declares /api/v1/cameras)
from alerts.camera_probe import CameraProber, file_outage_incidents
from api.auth import PAGE_PATHS, PAGE_ROLES
from api.registry import openapi_document
from api.security import content_security_policy
from data.accounts import create_user, issue_token, user_by_name
from data.models import AuditLog, Camera, Incident, utcnow
from dispatch.video import Playback, UnplayableStream, gateway_origin, patrol_page, playback_url
from layouts.video import fitting_layout, parse_codes
from settings import Settings, get_settings
from tests.unit.city_copies import city_copy, seeded_template
from tests.unit.test_layers_api import api_client


@dataclass
class Cam:
    code: str
    stream_url: str | None


GATEWAY = Settings(video_gateway="http://gw:8888/{code}/index.m3u8")
NO_GATEWAY = Settings(video_gateway="")


@pytest.mark.parametrize(("url", "expected"), [
    ("http://platform/live/c1.m3u8", Playback("hls", "http://platform/live/c1.m3u8")),
    ("https://platform/live/c1.M3U8?token=x", Playback("hls", "https://platform/live/c1.M3U8?token=x")),
    ("http://cam/video.mjpg", Playback("mjpeg", "http://cam/video.mjpg")),
    ("http://cam/axis-cgi/mjpg/video.cgi", Playback("mjpeg", "http://cam/axis-cgi/mjpg/video.cgi")),
    ("http://cam/snapshot.jpg", Playback("jpeg", "http://cam/snapshot.jpg")),
    ("http://gw:8889/cam7/whep", Playback("whep", "http://gw:8889/cam7/whep")),
    ("https://gw/live/cam7/whep/?token=x", Playback("whep", "https://gw/live/cam7/whep/?token=x")),
    ("https://gw/cam7.whep", Playback("whep", "https://gw/cam7.whep")),
])
def test_http_urls_play_as_hls_whep_or_as_images(url, expected):
    assert playback_url(Cam("C1", url), NO_GATEWAY) == expected


def test_rtsp_goes_through_the_gateway_template():
    camera = Cam("CAM 7/x", "rtsp://video.city/live/ch7")
    assert playback_url(camera, GATEWAY) == Playback("hls", "http://gw:8888/CAM%207%2Fx/index.m3u8")
    by_path = Settings(video_gateway="http://gw:8888/{path}/index.m3u8")
    assert playback_url(camera, by_path).url == "http://gw:8888/live/ch7/index.m3u8"
    assert playback_url(Cam("C", "rtsp://x/y"), Settings(video_gateway="http://gw/{code}.mjpg")).kind == "mjpeg"
    assert playback_url(Cam("C", "rtsp://x/y"), Settings(video_gateway="http://gw:8889/{code}/whep")) == \
        Playback("whep", "http://gw:8889/C/whep")


def test_a_wall_of_many_cells_plays_the_gateways_sub_stream_where_there_is_one():
    both = Settings(video_gateway="http://gw:8888/{code}/index.m3u8",
                    video_gateway_sub="http://gw:8888/{code}_sub/index.m3u8")
    rtsp, own_hls = Cam("C7", "rtsp://video.city/live/ch7"), Cam("C8", "http://platform/live/c8.m3u8")
    assert playback_url(rtsp, both).url == "http://gw:8888/C7/index.m3u8"
    assert playback_url(rtsp, both, sub_stream=True).url == "http://gw:8888/C7_sub/index.m3u8"
    # without a sub-stream template, and for a platform's own URL, the main stream plays
    assert playback_url(rtsp, GATEWAY, sub_stream=True).url == "http://gw:8888/C7/index.m3u8"
    assert playback_url(own_hls, both, sub_stream=True).url == "http://platform/live/c8.m3u8"


@pytest.mark.parametrize(("url", "settings", "code"), [
    (None, GATEWAY, "no_stream"),
    ("  ", GATEWAY, "no_stream"),
    ("rtsp://video.city/live/1", NO_GATEWAY, "no_gateway"),
    ("ftp://video.city/1.m3u8", GATEWAY, "unsupported_scheme"),
    ("javascript:alert(1)", GATEWAY, "unsupported_scheme"),
    ("/relative/1.m3u8", GATEWAY, "unsupported_scheme"),
    ("http://platform/live/c1.flv", GATEWAY, "unsupported_format"),
    ("http://platform/live/whepx", GATEWAY, "unsupported_format"),
])
def test_unplayable_streams_say_why(url, settings, code):
    with pytest.raises(UnplayableStream) as raised:
        playback_url(Cam("C1", url), settings)
    assert raised.value.code == code


def test_the_csp_allows_the_gateway_and_video_origins(monkeypatch):
    assert "gw" not in content_security_policy([])
    monkeypatch.setenv("CITYOPS_VIDEO_GATEWAY", "http://gw.city:8888/{code}/index.m3u8")
    monkeypatch.setenv("CITYOPS_VIDEO_ORIGINS", '["https://platform.city"]')
    get_settings.cache_clear()
    directives = dict(part.split(" ", 1) for part in content_security_policy([]).split("; "))
    for name in ("connect-src", "media-src", "img-src"):
        assert "http://gw.city:8888" in directives[name].split()
        assert "https://platform.city" in directives[name].split()
    assert "gw.city" not in directives["script-src"] and "gw.city" not in directives["default-src"]
    monkeypatch.setenv("CITYOPS_VIDEO_GATEWAY_SUB", "http://sub.city:8888/{code}/index.m3u8")
    get_settings.cache_clear()
    assert "http://sub.city:8888" in content_security_policy([]).split("media-src ", 1)[1].split(";")[0].split()
    assert gateway_origin("rtsp://x/y") is None


def test_the_wall_page_has_the_snapshot_bar_the_camera_list_and_the_map():
    from layouts import ids
    from layouts.video import layout

    page = str(layout(cameras="A,B").to_plotly_json())
    for component in (ids.VIDEO_SNAP_KIND, ids.VIDEO_SNAP_TARGET, ids.VIDEO_SNAP_MESSAGE, ids.VIDEO_LIST,
                      ids.VIDEO_DROP, ids.VIDEO_MAP, ids.VIDEO_WALL):
        assert f"'{component}'" in page, component
    assert "data-msg-whep" in page and "data-msg-no_target" in page


def test_the_wall_is_a_page_for_operators_admins_and_leaders():
    assert PAGE_PATHS["/video"] == "video"
    assert PAGE_ROLES["video"] == {"admin", "operator", "leader"}
    assert parse_codes(" A, B,,A ,C") == ["A", "B", "C"]
    assert len(parse_codes(",".join(f"C{i}" for i in range(40)))) == 16
    assert [fitting_layout(n) for n in (0, 1, 2, 4, 5, 10, 16)] == [4, 1, 4, 4, 9, 16, 16]


# --- the probe's judgement of a playlist -------------------------------------------------------------

LIVE = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{seq}\n#EXTINF:1.0,\nindex{seq}.ts\n"


def test_a_live_playlist_is_online_while_it_moves_and_offline_once_it_stalls():
    prober = CameraProber(timeout_s=1, parallel=1)
    now = utcnow()
    judge = prober._judge_playlist
    assert judge("u", LIVE.format(seq=1), None, now).online
    assert judge("u", LIVE.format(seq=1), None, now + timedelta(seconds=2)).online  # not yet stale
    stalled = judge("u", LIVE.format(seq=1), None, now + timedelta(seconds=30))
    assert not stalled.online and stalled.reason == "stale"
    assert judge("u", LIVE.format(seq=2), None, now + timedelta(seconds=31)).online  # it moves again


def test_ended_old_and_foreign_playlists_are_offline():
    prober = CameraProber(timeout_s=1, parallel=1)
    now = utcnow()
    ended = prober._judge_playlist("u", LIVE.format(seq=3) + "#EXT-X-ENDLIST\n", None, now)
    assert (ended.online, ended.reason) == (False, "ended")
    old = prober._judge_playlist("v", LIVE.format(seq=3), "Mon, 01 Jan 2024 00:00:00 GMT", now)
    assert (old.online, old.reason) == (False, "stale")
    assert prober._judge_playlist("w", "<html>gateway</html>", None, now).reason == "not_a_playlist"
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n"
    assert prober._judge_playlist("x", master, None, now).online


def test_an_unreachable_gateway_is_offline():
    prober = CameraProber(timeout_s=0.5, parallel=1)
    result = prober.probe(Playback("hls", "http://127.0.0.1:9/nothing/index.m3u8"), utcnow())
    assert (result.online, result.reason) == (False, "unreachable")


# --- the camera API and outage incidents on a seeded city ---------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("video"), seed=19)


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def get(city):
    """GET on the API as ``user`` (None: anonymous)."""
    client = api_client(city)
    with city.uow() as s:
        headers = {name: {"Authorization": f"Bearer {issue_token(s, user_by_name(s, name))}"}
                   for name in ("operator", "worker", "handler")}
    return lambda path, user="operator": client.get(path, headers=headers.get(user, {}))


@pytest.fixture
def post(city):
    """POST JSON on the API as one of two operators (``operator``, ``op2``) or a leader."""
    client = api_client(city)
    with city.uow() as s:
        create_user(s, "op2", "operator")
        headers = {name: {"Authorization": f"Bearer {issue_token(s, user_by_name(s, name))}"}
                   for name in ("operator", "op2", "leader")}
    return lambda path, body, user="operator": client.post(path, json=body, headers=headers[user])


def test_cameras_list_and_one_camera_follow_the_contract(get, city):
    with city.uow() as s:
        first = s.scalars(select(Camera).order_by(Camera.id)).first()
        first.status, first.status_changed_at = "offline", utcnow()
        code, lon, lat = first.code, first.lon, first.lat
    body = get("/api/v1/cameras?limit=5").get_json()
    assert len(body) == 5
    assert set(body[0]) == {"code", "name", "lon", "lat", "platform", "stream_url", "status", "status_changed_at"}
    one = get(f"/api/v1/cameras/{code}").get_json()
    assert one["code"] == code and one["status"] == "offline" and one["status_changed_at"]
    offline = get("/api/v1/cameras?status=offline&limit=1000").get_json()
    assert code in {c["code"] for c in offline} and {c["status"] for c in offline} == {"offline"}
    near = get(f"/api/v1/cameras?bbox={lon - 1e-6},{lat - 1e-6},{lon + 1e-6},{lat + 1e-6}").get_json()
    assert code in {c["code"] for c in near}
    assert all(abs(c["lon"] - lon) <= 1e-6 and abs(c["lat"] - lat) <= 1e-6 for c in near)


@pytest.mark.parametrize("query", ["status=broken", "bbox=1,2,3", "limit=0", "offset=-1"])
def test_bad_camera_queries_are_a_422(get, query):
    response = get(f"/api/v1/cameras?{query}")
    assert response.status_code == 422


def test_unknown_camera_is_a_404_and_workers_and_strangers_are_refused(get):
    assert get("/api/v1/cameras/NOPE").status_code == 404
    assert get("/api/v1/cameras", user="worker").status_code == 403
    assert get("/api/v1/cameras", user=None).status_code == 401
    assert get("/api/v1/cameras?limit=1", user="handler").status_code == 200
    assert "/api/v1/cameras/{code}" in openapi_document()["paths"]


def test_a_long_outage_files_one_incident_and_a_new_outage_another(city):
    settings = Settings(camera_offline_minutes=30)
    now = utcnow()
    with city.uow() as s:
        camera = s.scalars(select(Camera).order_by(Camera.id)).first()
        camera.status, camera.status_changed_at = "offline", now - timedelta(minutes=10)
        camera_id = camera.id
    with city.uow() as s:
        assert file_outage_incidents(s, now, settings, probed=[camera_id]) == 0  # not long enough yet
    later = now + timedelta(minutes=25)
    with city.uow() as s:
        assert file_outage_incidents(s, later, settings, probed=[camera_id]) == 1
        assert file_outage_incidents(s, later + timedelta(minutes=5), settings, probed=[camera_id]) == 0
    with city.uow() as s:
        camera = s.get(Camera, camera_id)
        incident = s.get(Incident, camera.offline_incident_id)
        assert incident.category_code == "B0602" and incident.source == "video" and camera.code in incident.description
        # back online, then down again: a new outage
        camera.offline_incident_id, camera.status_changed_at = None, later + timedelta(minutes=10)
    with city.uow() as s:
        assert file_outage_incidents(s, later + timedelta(minutes=50), settings, probed=[camera_id]) == 1
        assert file_outage_incidents(s, later + timedelta(minutes=50), settings, probed=[]) == 0


def test_cells_carry_the_playback_url_or_say_why_not(city, monkeypatch):
    from callbacks.video import cell_cameras
    from layouts.video import CellCamera, video_cell

    monkeypatch.setenv("CITYOPS_VIDEO_GATEWAY", "http://gw:8888/{code}/index.m3u8")
    get_settings.cache_clear()
    with city.uow() as s:
        first, second = s.scalars(select(Camera).order_by(Camera.id).limit(2)).all()
        second.stream_url = "ftp://nowhere/x"
        cells = cell_cameras(s, [first.code, None, "NOPE", second.code])
    assert cells[0].kind == "hls" and cells[0].url == f"http://gw:8888/{first.code}/index.m3u8"
    assert cells[1] is None
    assert cells[2].error == "unknown_camera" and cells[3].error == "unsupported_scheme"
    playing, empty = video_cell(0, cells[0]), video_cell(1, None)
    video = playing.children[1].children[0]
    assert playing.to_plotly_json()["props"]["data-testid"] == "video-cell"
    assert video.to_plotly_json()["props"]["data-src"] == cells[0].url
    assert "data-src" not in empty.children[1].children[0].to_plotly_json()["props"]  # nothing to play
    failed = video_cell(2, cells[3])
    assert "has-error" in failed.className and failed.children[2].children  # the reason, in words
    assert "video-snapshot" in str(playing.to_plotly_json()) and "video-snapshot" not in str(failed.to_plotly_json())
    whep = video_cell(3, CellCamera("W", "东门", "online", "whep", "http://gw:8889/W/whep"))
    props = whep.children[1].children[0].to_plotly_json()["props"]
    assert (props["data-kind"], props["data-src"]) == ("whep", "http://gw:8889/W/whep")  # a <video> over WebRTC


def test_hls_js_is_served_but_not_put_on_every_page(db):
    from app import create_app
    from data.accounts import create_user

    with db.uow() as s:
        create_user(s, "operator", "operator", password="operator-video-pw")
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="test", demo=False), db)
    client = server.test_client()
    assert client.post("/login", data={"username": "operator", "password": "operator-video-pw"}).status_code == 302
    page = client.get("/video?cameras=A,B").get_data(as_text=True)
    assert "video.js" in page and "hls.min.js" not in page
    served = client.get("/assets/vendor/hls.min.js")
    assert served.status_code == 200 and b"Hls" in served.get_data()


def test_a_status_change_of_the_probe_renews_the_maps_static_layers(city):
    from data.layers import data_version

    with city.uow() as s:
        before = data_version(s)
        camera = s.scalars(select(Camera).order_by(Camera.id)).first()
        camera.status, camera.status_changed_at = "offline", utcnow()
    with city.uow() as s:
        assert data_version(s) != before  # the map's camera colours are rebuilt


def test_a_cameras_detail_on_the_map_opens_it_on_the_wall():
    from callbacks.bigscreen.detail import render_detail
    from data.map_details import Detail

    found = Detail("camera", 7, "东门", 117.0, 36.6, [("code", "CAM 7&x"), ("status", "online")],
                   {"stream_url": "rtsp://x/7", "status": "online"})
    rendered = str(render_detail(found).to_plotly_json())
    assert "/video?cameras=CAM+7%26x" in rendered and "camera-play-link" in rendered


# --- patrol plans ------------------------------------------------------------------------------------

def _codes(city, n: int) -> list[str]:
    with city.uow() as s:
        return list(s.scalars(select(Camera.code).order_by(Camera.id).limit(n)))


def test_a_patrol_plan_saved_by_one_operator_is_shared_with_another(city, post, get):
    codes = _codes(city, 6)
    saved = post("/api/v1/patrol-plans", {"name": "东区夜巡", "cameras": codes[:5], "dwell_s": 5})
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["cameras"] == codes[:5] and saved.get_json()["dwell_s"] == 5
    plans = get("/api/v1/patrol-plans").get_json()
    assert [(p["name"], p["cameras"]) for p in plans] == [("东区夜巡", codes[:5])]
    # the second operator edits the same plan by name: everyone sees the new cameras and dwell time
    assert post("/api/v1/patrol-plans", {"name": "东区夜巡", "cameras": codes[2:], "dwell_s": 3},
                user="op2").status_code == 201
    assert [(p["cameras"], p["dwell_s"]) for p in get("/api/v1/patrol-plans").get_json()] == [(codes[2:], 3)]
    with city.uow() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "patrol_plan.save")) == 2
    assert post("/api/v1/patrol-plans", {"name": "x", "cameras": codes, "dwell_s": 5},
                user="leader").status_code == 403  # leaders watch plans, operators and admins write them


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "p", "cameras": ["NO-SUCH-CAMERA"], "dwell_s": 5}, "unknown_camera"),
    ({"name": "p", "cameras": None, "dwell_s": 2}, "dwell_s"),
    ({"name": "p", "cameras": None, "dwell_s": 2.5}, "dwell_s"),
    ({"name": "p", "cameras": [], "dwell_s": 5}, "cameras"),
    ({"name": "", "cameras": None, "dwell_s": 5}, "name"),
    ({"name": "  ", "cameras": None, "dwell_s": 5}, "invalid_name"),
    ({"name": "p", "cameras": None, "dwell_s": 5, "extra": 1}, "extra"),
])
def test_bad_patrol_plans_are_a_422_naming_what_is_wrong(city, post, get, body, field):
    body = {**body, "cameras": _codes(city, 2) if body["cameras"] is None else body["cameras"]}
    response = post("/api/v1/patrol-plans", body)
    assert response.status_code == 422, response.get_json()
    assert field in str(response.get_json())
    assert get("/api/v1/patrol-plans").get_json() == []  # nothing half-saved


def test_a_patrol_runs_through_its_cameras_a_page_at_a_time():
    codes = [f"C{i}" for i in range(10)]
    assert [patrol_page(codes, 4, step) for step in range(4)] == [codes[:4], codes[4:8], codes[8:], codes[:4]]
    assert patrol_page(codes, 16, 5) == codes and patrol_page([], 4, 1) == []
