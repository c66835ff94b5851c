"""The video wall in a real Chromium at 1920×1080 (issue 19): four live test streams (ffmpeg testsrc → HLS,
served like a media gateway) play at once on ``/video?cameras=A,B,C,D`` through the vendored hls.js under
the Content Security Policy — each cell's ``<video>`` advances and its frame is a picture, not a blank."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select

from data.models import Camera
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
