"""Camera health (issue 19): a scheduler job probes every camera's playback URL in bounded parallel batches
and keeps ``cameras.status`` (``online``/``offline``) and ``status_changed_at`` current; a camera offline
longer than ``CITYOPS_CAMERA_OFFLINE_MINUTES`` files one incident of the equipment category per outage.

A probe is one HTTP GET with a short timeout. An HLS playlist is online when it answers 200 with an
``#EXTM3U`` body and, for a live media playlist, is still moving: a playlist that ended (``#EXT-X-ENDLIST``:
the encoder stopped), or whose last segment has not changed for three target durations (by its
``Last-Modified`` or by what the previous round saw), is offline. An MJPEG stream or JPEG snapshot is online
when it answers 200. Cameras a browser cannot play (no gateway for RTSP, unknown scheme) are not probed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import urllib3
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.ports import Stream, desk
from data.models import Camera, Category
from settings import Settings, get_settings

log = logging.getLogger(__name__)

#: At most this many bytes of a playlist are read (a live playlist is a few hundred bytes).
MAX_PLAYLIST_BYTES = 256 * 1024
#: A live playlist whose newest segment is older than this many target durations has stalled.
STALE_TARGET_DURATIONS = 3
#: ... and never less than this (a playlist without a target duration, or with a tiny one).
MIN_STALE_S = 6.0


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found: ``online`` and, when offline, ``reason`` (``http_404``, ``unreachable``,
    ``not_a_playlist``, ``ended``, ``stale``); ``signature`` of a live playlist (its newest segment)."""

    online: bool
    reason: str = ""
    signature: str | None = None


@dataclass
class ProbeRound:
    """The outcome of one round: cameras probed, online, offline, status changes, incidents filed."""

    probed: int = 0
    online: int = 0
    offline: int = 0
    changed: int = 0
    incidents: int = 0


def _playlist_facts(text: str) -> tuple[bool, bool, float | None, str | None]:
    """(master playlist, ended, target duration, signature = media sequence and newest segment)."""
    master = "#EXT-X-STREAM-INF" in text
    ended = "#EXT-X-ENDLIST" in text
    target: float | None = None
    sequence = ""
    last_segment = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            try:
                target = float(line.split(":", 1)[1])
            except ValueError:
                target = None
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = line.split(":", 1)[1]
        elif line and not line.startswith("#"):
            last_segment = line
    signature = f"{sequence}|{last_segment}" if last_segment is not None else None
    return master, ended, target, signature


class CameraProber:
    """Probes playback URLs over one pooled HTTP client, remembering each live playlist's newest segment and
    when it was first seen, so a playlist that stopped moving is found even without ``Last-Modified``."""

    def __init__(self, *, timeout_s: float, parallel: int) -> None:
        self.parallel = parallel
        self.http = urllib3.PoolManager(num_pools=64, maxsize=parallel, retries=False,
                                        timeout=urllib3.Timeout(total=timeout_s))
        self._seen: dict[str, tuple[str, datetime]] = {}

    def probe(self, playback: Stream, now: datetime) -> ProbeResult:
        """Probe one playback URL at ``now``."""
        try:
            response = self.http.request("GET", playback.url, preload_content=False, redirect=True)
        except urllib3.exceptions.HTTPError as exc:  # refused, timed out, bad address
            log.debug("camera probe %s: %s", playback.url, exc)
            return ProbeResult(False, "unreachable")
        try:
            if response.status != 200:
                return ProbeResult(False, f"http_{response.status}")
            if playback.kind != "hls":
                return ProbeResult(True)
            body = response.read(MAX_PLAYLIST_BYTES, decode_content=True)
            modified = response.headers.get("Last-Modified")
        except urllib3.exceptions.HTTPError:
            return ProbeResult(False, "unreachable")
        finally:
            response.release_conn()
        return self._judge_playlist(playback.url, body.decode("utf-8", "replace"), modified, now)

    def _judge_playlist(self, url: str, text: str, modified: str | None, now: datetime) -> ProbeResult:
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            return ProbeResult(False, "not_a_playlist")
        master, ended, target, signature = _playlist_facts(text)
        if master:
            return ProbeResult(True)
        if ended:
            return ProbeResult(False, "ended")
        stale_after = timedelta(seconds=max(MIN_STALE_S, STALE_TARGET_DURATIONS * (target or 0)))
        if modified:
            try:
                if now - parsedate_to_datetime(modified) > stale_after:
                    return ProbeResult(False, "stale", signature)
            except (TypeError, ValueError):
                pass  # an unreadable date: judge by the segments alone
        if signature is None:
            return ProbeResult(False, "not_a_playlist")
        previous = self._seen.get(url)
        if previous is None or previous[0] != signature:
            self._seen[url] = (signature, now)
            return ProbeResult(True, signature=signature)
        stale = now - previous[1] > stale_after
        return ProbeResult(not stale, "stale" if stale else "", signature)

    def probe_many(self, targets: Iterable[tuple[int, Stream]], now: datetime) -> dict[int, ProbeResult]:
        """Probe ``(camera id, playback)`` pairs, ``parallel`` at a time; camera id → result."""
        items = list(targets)
        with ThreadPoolExecutor(max_workers=min(self.parallel, max(1, len(items)))) as pool:
            results = pool.map(lambda item: self.probe(item[1], now), items)
            return {camera_id: result for (camera_id, _), result in zip(items, results, strict=True)}

    def run(self, session: Session, now: datetime, settings: Settings | None = None) -> ProbeRound:
        """One round: probe every playable camera, store status changes, file incidents of long outages."""
        settings = settings or get_settings()
        rows = session.execute(
            select(Camera.id, Camera.code, Camera.stream_url, Camera.status, Camera.status_changed_at)
        ).all()
        targets: list[tuple[int, Stream]] = []
        for row in rows:
            stream = desk().stream_of(row, settings)
            if stream is not None:
                targets.append((row.id, stream))
        results = self.probe_many(targets, now)
        known = {row.id: (row.status, row.status_changed_at) for row in rows}
        outcome = ProbeRound(probed=len(results))
        changes = []
        for camera_id, result in results.items():
            new = "online" if result.online else "offline"
            outcome.online += result.online
            before, changed_at = known[camera_id]
            if before != new or changed_at is None:  # a change, or the first round that saw this camera
                change = {"id": camera_id, "status": new, "status_changed_at": now}
                if result.online:
                    change["offline_incident_id"] = None
                changes.append(change)
        if changes:
            session.execute(update(Camera), changes)
        outcome.offline = outcome.probed - outcome.online
        outcome.changed = len(changes)
        outcome.incidents = file_outage_incidents(session, now, settings, probed=results.keys())
        return outcome


def file_outage_incidents(session: Session, now: datetime, settings: Settings, *, probed: Iterable[int]) -> int:
    """File one incident of ``camera_offline_category`` for each probed camera offline longer than
    ``camera_offline_minutes`` that has none for this outage; returns how many were filed."""
    since = now - timedelta(minutes=settings.camera_offline_minutes)
    probed_ids = set(probed)
    if not probed_ids:
        return 0
    category = session.get(Category, settings.camera_offline_category)
    if category is None:
        log.warning("camera health: no category %s for outages", settings.camera_offline_category)
        return 0
    cameras = session.scalars(
        select(Camera).where(Camera.status == "offline", Camera.offline_incident_id.is_(None),
                             Camera.status_changed_at <= since)
    ).all()
    filed = 0
    for camera in cameras:
        if camera.id not in probed_ids:
            continue
        incident = desk().open_incident(
            session, category_code=category.code, source="video", auto_file=True, actor=None,
            title=f"{category.name_zh}（{camera.name}）",
            description=f"{camera.code} offline since {camera.status_changed_at.isoformat()}",
            lon=camera.lon, lat=camera.lat, reported_at=now,
        )
        camera.offline_incident_id = incident.id
        filed += 1
    return filed


def probe_job_for(settings: Settings | None = None) -> CameraProber:
    """The prober the scheduler's ``camera_probe`` job runs (``prober.run(session, now)``)."""
    settings = settings or get_settings()
    return CameraProber(timeout_s=settings.camera_probe_timeout_s, parallel=settings.camera_probe_parallel)
