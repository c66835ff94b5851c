"""Camera health against real live streams (issue 19): ffmpeg encodes test streams into HLS served over HTTP
(tests/video_streams.py); one probe round finds them online, a stopped encoder or a removed playlist
turns its camera offline in the next round, a restarted one brings it back, a gateway that is down leaves
every camera offline."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from alerts.camera_probe import CameraProber
from data.models import Camera, VideoPlatform, utcnow
from settings import Settings
from tests.video_streams import hls_streams

CODES = ("CAM-A", "CAM-B", "CAM-C")


@pytest.fixture
def cameras(db):
    with db.uow() as s:
        platform = VideoPlatform(code="P1", name="platform")
        s.add(platform)
        s.flush()
        s.add_all([Camera(code=code, name=code, platform_id=platform.id, type="dome", status="offline",
                          stream_url=f"rtsp://video.city/{code}", lon=117.0, lat=36.6) for code in CODES])
        s.add(Camera(code="CAM-NOURL", name="n", platform_id=platform.id, type="dome", status="online",
                     stream_url=None, lon=117.0, lat=36.6))
    return db


def statuses(db) -> dict[str, str]:
    with db.uow() as s:
        return dict(s.execute(select(Camera.code, Camera.status)).all())


def probe_round(db, prober: CameraProber, settings: Settings):
    with db.uow() as s:
        return prober.run(s, utcnow(), settings)


def test_stopping_a_stream_turns_its_camera_offline_and_starting_it_brings_it_back(cameras, tmp_path):
    with hls_streams(tmp_path / "hls", CODES) as streams:
        settings = Settings(video_gateway=streams.template, camera_offline_minutes=60)
        prober = CameraProber(timeout_s=3, parallel=4)
        first = probe_round(cameras, prober, settings)
        assert (first.probed, first.online, first.changed) == (3, 3, 3)
        assert statuses(cameras) == {"CAM-A": "online", "CAM-B": "online", "CAM-C": "online",
                                     "CAM-NOURL": "online"}  # a camera without a playable URL is left alone
        with cameras.uow() as s:
            changed_at = s.scalar(select(Camera.status_changed_at).where(Camera.code == "CAM-A"))
        assert changed_at is not None

        streams.stop("CAM-A")  # the encoder stops
        shutil.rmtree(tmp_path / "hls" / "CAM-B")  # the gateway no longer has the stream
        second = probe_round(cameras, prober, settings)
        assert statuses(cameras)["CAM-A"] == "offline" and statuses(cameras)["CAM-B"] == "offline"
        assert statuses(cameras)["CAM-C"] == "online" and second.changed == 2
        with cameras.uow() as s:
            assert s.scalar(select(Camera.status_changed_at).where(Camera.code == "CAM-A")) > changed_at

        streams.start("CAM-A")
        streams.start("CAM-B")
        probe_round(cameras, prober, settings)
        assert set(statuses(cameras).values()) == {"online"}


def test_a_gateway_that_is_down_leaves_the_cameras_offline(cameras):
    settings = Settings(video_gateway="http://127.0.0.1:9/{code}/index.m3u8")
    outcome = probe_round(cameras, CameraProber(timeout_s=1, parallel=4), settings)
    assert (outcome.probed, outcome.online) == (3, 0)
    assert [statuses(cameras)[code] for code in CODES] == ["offline"] * 3
