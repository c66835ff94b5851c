"""The video wall in a real Chromium at 1920×1080 (issue 19): four live test streams (ffmpeg testsrc → HLS,
served like a media gateway) play at once on ``/video?cameras=A,B,C,D`` through the vendored hls.js under
the Content Security Policy — each cell's ``<video>`` advances and its frame is a picture, not a blank; a cell's
snapshot lands on an incident, a camera dragged from the list goes into a cell and onto the map beside the
wall, and a WHEP camera's cell POSTs an SDP offer to its endpoint (answered here by a stub, not a WebRTC
server: the media path itself is not tested)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, update

from data.models import Attachment, Camera
from dispatch.video import gateway_origin
from tests import stack
from tests.e2e.conftest import LiveServer, _seed, login
from tests.video_streams import hls_streams

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"""

#: Per cell: the <video>'s currentTime and the variance of its frame's grey levels (drawn to a canvas).
CELL_STATE = """() => Array.from(document.querySelectorAll("[data-testid='video-cell']")).map(cell => {
  const video = cell.querySelector('video');
  let variance = 0;
  if (video.videoWidth) {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 36;
    const g = canvas.getContext('2d');
    g.drawImage(video, 0, 0, 64, 36);
    const px = g.getImageData(0, 0, 64, 36).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < px.length; i += 4) {
      const y = (px[i] + px[i + 1] + px[i + 2]) / 3; sum += y; sq += y * y; n++;
    }
    variance = sq / n - (sum / n) ** 2;
  }
  return {camera: cell.dataset.camera, time: video.currentTime, variance: variance,
          error: cell.querySelector('.video-error').textContent};
})"""


@pytest.fixture(scope="module")
def wall(tmp_path_factory) -> Iterator[tuple[LiveServer, list[str]]]:
    """A CityOps whose media gateway is a local HTTP server with a live stream for four of its cameras (of the
    five codes given: the fifth has none)."""
    folder = tmp_path_factory.mktemp("video")
    with hls_streams(folder / "hls") as streams:
        env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{folder / 'cityops.db'}", "CITYOPS_DEMO": "1",
               "CITYOPS_SECRET_KEY": "e2e-secret", "CITYOPS_LANG": "zh", "CITYOPS_VIDEO_GATEWAY": streams.template,
               "CITYOPS_CAMERA_PROBE_SECONDS": "3600"}
        _seed(env)
        engine = create_engine(env["CITYOPS_DATABASE_URL"])
        with engine.connect() as connection:
            codes = list(connection.scalars(select(Camera.code).order_by(Camera.id).limit(5)))
        engine.dispose()
        for code in codes[:4]:
            streams.start(code, wait=False)
        for code in codes[:4]:
            streams.wait_for(code, segments=2)
        port = stack.free_port()
        with stack.Processes(folder, env) as procs:
            procs.start("server", "app.py", "serve", "--port", str(port), "--no-simulator")
            server = LiveServer(f"http://127.0.0.1:{port}", env)
            procs.until(lambda: (stack.healthz(server.url) or {}).get("status") == "ok",
                        "the server does not answer /healthz")
            yield server, codes


def test_the_wall_plays_four_live_streams_at_once(page, wall):
    server, codes = wall
    streaming, silent = codes[:4], codes[4]  # the gateway has no stream for the fifth camera
    page.add_init_script(REPORT_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    login(page, server, "operator", "operator123")
    page.goto(f"{server.url}/video?cameras={','.join([*codes, 'NO-SUCH-CAMERA'])}")
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='video-cell'] video[data-src]\").length"
                           " === 5", timeout=30_000)
    assert page.viewport_size == {"width": 1920, "height": 1080}
    playing = f"({CELL_STATE})().filter(c => {streaming!r}.includes(c.camera))"
    # every streaming cell is past its first second of video, then advances further: four play at once
    page.wait_for_function(f"() => {playing}.every(c => c.time > 1)", timeout=60_000)
    before = {cell["camera"]: cell["time"] for cell in page.evaluate(f"() => {playing}")}
    page.wait_for_function(f"() => {playing}.every(c => c.time > {max(before.values())} + 1)", timeout=60_000)
    cells = {cell["camera"]: cell for cell in page.evaluate(CELL_STATE)}
    for code in streaming:
        cell = cells[code]
        assert cell["time"] > before[code], cell
        assert cell["variance"] > 100, cell  # testsrc's colour bars, not a black (or grey) box
        assert cell["error"] == "", cell
    # the cells that cannot play say why: hls.js's 404 from the gateway, and a camera that does not exist
    page.wait_for_function(f"() => ({CELL_STATE})().some(c => c.camera === {silent!r} && c.error)", timeout=30_000)
    assert cells["NO-SUCH-CAMERA"]["error"] == "无此摄像头"
    assert page.evaluate(CELL_STATE)[4]["error"] == "视频流不存在（404）"
    assert page.evaluate("() => typeof window.Hls") == "function"  # the vendored hls.js, from our assets
    assert not [e for e in errors if "CSP violation" in e], errors


def test_snapshots_drag_and_drop_the_map_and_a_whep_offer(page, wall):
    server, codes = wall
    playing, whep_camera, dragged = codes[0], codes[4], codes[2]
    whep_url = f"{gateway_origin(server.env['CITYOPS_VIDEO_GATEWAY'])}/whep-test/{whep_camera}/whep"
    engine = create_engine(server.env["CITYOPS_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(update(Camera).where(Camera.code == whep_camera).values(stream_url=whep_url))
        connection.execute(update(Camera).where(Camera.code == playing).values(status="online"))
        lon, lat = connection.execute(select(Camera.lon, Camera.lat).where(Camera.code == playing)).one()
    offers: list[dict] = []

    def whep_stub(route, request):  # the gateway's WHEP endpoint: takes the offer, answers nonsense
        cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "content-type",
                "Access-Control-Allow-Methods": "POST, DELETE", "Access-Control-Expose-Headers": "Location"}
        if request.method == "POST":
            offers.append({"type": request.headers.get("content-type"), "sdp": request.post_data or ""})
            route.fulfill(status=201, headers={**cors, "Content-Type": "application/sdp"}, body="not an answer")
        else:
            route.fulfill(status=204, headers=cors)

    page.route("**/whep-test/**", whep_stub)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    login(page, server, "operator", "operator123")
    reported = page.request.post(f"{server.url}/api/v1/incidents", data={
        "category": "S0503", "title": "违停", "lon": lon, "lat": lat})
    assert reported.status == 201, reported.text()
    incident_id, incident_code = reported.json()["id"], reported.json()["code"]
    page.goto(f"{server.url}/video?cameras={playing},{whep_camera}")
    page.wait_for_function(f"() => ({CELL_STATE})().some(c => c.camera === {playing!r} && c.time > 0.5)",
                           timeout=60_000)
    # the WHEP cell offered receive-only audio and video to the endpoint, and says the connection failed
    page.wait_for_function(f"() => ({CELL_STATE})().some(c => c.camera === {whep_camera!r} && c.error)",
                           timeout=30_000)
    assert offers and offers[0]["type"] == "application/sdp"
    assert offers[0]["sdp"].startswith("v=0") and "m=video" in offers[0]["sdp"] and "a=recvonly" in offers[0]["sdp"]
    assert page.evaluate(CELL_STATE)[1]["error"] == "WebRTC（WHEP）连接失败"
    # a snapshot of the playing cell becomes a photo of the incident
    page.locator("#video-snap-target").fill(incident_code)
    page.locator(f"[data-testid='video-cell'][data-camera='{playing}'] [data-testid='video-snapshot']").click()
    page.wait_for_function("() => document.querySelector(\"[data-testid='video-snap-message']\")"
                           ".getAttribute('data-state') === 'saved'", timeout=15_000)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Attachment).where(
            Attachment.incident_id == incident_id, Attachment.kind == "snapshot")) == 1
    engine.dispose()
    # a camera found by the picker is dragged from the list beside the wall onto cell 3, and shows on the map
    page.locator("#video-pick").click()
    page.locator(".dash-dropdown-search").fill(dragged)  # the dropdown's search box, once it has opened
    item = page.locator(f"[data-testid='video-list-item'][data-camera='{dragged}']")
    item.wait_for(timeout=15_000)
    page.keyboard.press("Escape")
    item.drag_to(page.locator("[data-testid='video-cell'][data-cell='2']"))
    page.wait_for_function(f"() => document.querySelector(\"[data-testid='video-cell'][data-cell='2']\")"
                           f".dataset.camera === {dragged!r}", timeout=15_000)
    page.wait_for_function(f"() => {{ const g = document.querySelector('#video-map .js-plotly-plot');"
                           f" return g && g.data && g.data[0].customdata.includes({dragged!r}); }}", timeout=15_000)
