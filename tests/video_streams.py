"""Real live HLS test streams (issue 19): ``ffmpeg`` encodes its ``testsrc`` pattern (H.264) into
``<folder>/<code>/index.m3u8`` and a Python ``http.server`` in a thread serves the folder with
``Access-Control-Allow-Origin: *``, as a media gateway would."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

#: Where the gateway template of the test streams points: ``{base}/{code}/index.m3u8``.
PLAYLIST = "index.m3u8"


class _CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def ffmpeg_or_skip() -> str:
    """The ffmpeg executable; the test is skipped (saying how to get it) when it is missing."""
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.skip("ffmpeg is not installed (scripts/services installs the Debian package)")
    return found


class HlsStreams:
    """Live test streams by camera code under one HTTP server at ``base``."""

    def __init__(self, folder: Path, base: str) -> None:
        self.folder = folder
        self.base = base
        self.encoders: dict[str, subprocess.Popen] = {}

    @property
    def template(self) -> str:
        """The CITYOPS_VIDEO_GATEWAY template of these streams."""
        return f"{self.base}/{{code}}/{PLAYLIST}"

    def start(self, code: str, *, wait: bool = True) -> None:
        """Start encoding ``code``'s stream (a fresh playlist) and, with ``wait``, wait for its first segments."""
        out = self.folder / code
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        self.encoders[code] = subprocess.Popen(
            [ffmpeg_or_skip(), "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
             "-i", "testsrc=size=320x180:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
             "-pix_fmt", "yuv420p", "-g", "25", "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
             "-hls_flags", "delete_segments", str(out / PLAYLIST)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if wait:
            self.wait_for(code, segments=2)

    def wait_for(self, code: str, *, segments: int, timeout_s: float = 30.0) -> None:
        """Wait until ``code``'s playlist lists ``segments`` segments (a readiness wait, not an assertion)."""
        playlist = self.folder / code / PLAYLIST
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if playlist.exists() and playlist.read_text().count(".ts") >= segments:
                return
            time.sleep(0.2)
        raise RuntimeError(f"ffmpeg wrote no playlist for {code} within {timeout_s} s")

    def stop(self, code: str) -> None:
        """Stop ``code``'s encoder (ffmpeg ends its playlist, as an encoder that stops does)."""
        encoder = self.encoders.pop(code)
        encoder.terminate()
        encoder.wait(timeout=15)

    def url(self, code: str) -> str:
        return f"{self.base}/{code}/{PLAYLIST}"


@contextmanager
def hls_streams(folder: Path, codes: list[str] | tuple[str, ...] = ()) -> Iterator[HlsStreams]:
    """An HTTP server on a free port serving ``folder``, with a live stream started for each of ``codes``."""
    ffmpeg_or_skip()
    folder.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CorsHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    streams = HlsStreams(folder, f"http://127.0.0.1:{server.server_address[1]}")
    try:
        for code in codes:
            streams.start(code, wait=False)
        for code in codes:
            streams.wait_for(code, segments=2)
        yield streams
    finally:
        for code in list(streams.encoders):
            encoder = streams.encoders.pop(code)
            encoder.kill()
            encoder.wait(timeout=15)
        server.shutdown()
        server.server_close()
