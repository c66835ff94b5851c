"""Video: where a browser plays a camera (``playback_url``: HLS through the vendored hls.js, WebRTC through a
WHEP endpoint, MJPEG/JPEG as the fallback, RTSP through the media gateway of ``CITYOPS_VIDEO_GATEWAY``), patrol
plans, and the entry of video AI detections (算法模型; the kinds are data, ``dispatch/video_ai``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.models import Camera, PatrolPlan, utcnow
from dispatch.service import InvalidInput
from dispatch.video_ai.kinds import load_kinds

#: Schemes a media gateway turns into browser-playable streams.
GATEWAY_SCHEMES = ("rtsp", "rtsps", "rtmp")
#: Path endings of an MJPEG stream and of a JPEG snapshot, played by an <img> (the fallback).
MJPEG_SUFFIXES = (".mjpg", ".mjpeg", ".cgi")
JPEG_SUFFIXES = (".jpg", ".jpeg")
#: Path endings of a WHEP endpoint (WebRTC-HTTP egress, RFC 9725; MediaMTX serves ``/{path}/whep``).
WHEP_SUFFIXES = ("/whep", ".whep")

PlaybackKind = Literal["hls", "whep", "mjpeg", "jpeg"]


class StreamCamera(Protocol):
    """What ``playback_url`` reads of a camera (a ``Camera`` row or anything shaped like it)."""

    code: str
    stream_url: str | None


class GatewaySettings(Protocol):
    """The settings ``playback_url`` reads (``settings.Settings``)."""

    video_gateway: str
    video_gateway_sub: str


#: Walls of this many cells or more play sub-streams where the gateway offers them (bandwidth discipline).
SUB_STREAM_CELLS = 9


@dataclass(frozen=True)
class Playback:
    """How a browser plays a camera: ``kind`` ``hls`` (a <video> with hls.js), ``whep`` (a <video> fed by WebRTC
    after an SDP offer POSTed to the WHEP endpoint ``url``), ``mjpeg`` or ``jpeg`` (an <img>)."""

    kind: PlaybackKind
    url: str


class UnplayableStream(ValueError):
    """A camera a browser cannot play; ``code`` (``no_stream``, ``no_gateway``, ``unsupported_scheme``,
    ``unsupported_format``) names why, for the message shown in its cell."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _kind_of(url: str) -> PlaybackKind | None:
    path = urlsplit(url).path.lower()
    if path.endswith(".m3u8"):
        return "hls"
    if path.rstrip("/").endswith(WHEP_SUFFIXES):
        return "whep"
    if path.endswith(MJPEG_SUFFIXES) or "mjpg" in path or "mjpeg" in path:
        return "mjpeg"
    if path.endswith(JPEG_SUFFIXES):
        return "jpeg"
    return None


def playback_url(camera: StreamCamera, settings: GatewaySettings, *, sub_stream: bool = False) -> Playback:
    """Where and how a browser plays ``camera``: an http(s) ``.m3u8`` as HLS, an MJPEG stream or JPEG snapshot
    as an image; an RTSP/RTMP URL through the gateway template (``{code}``: the camera code, ``{path}``: the
    stream URL's path without its leading slash) — with ``sub_stream``, the gateway's sub-stream template
    when one is set —, a WHEP endpoint (``…/whep``) as WebRTC. Raises ``UnplayableStream`` saying why not."""
    raw = (camera.stream_url or "").strip()
    if not raw:
        raise UnplayableStream("no_stream", f"camera {camera.code} has no stream URL")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in GATEWAY_SCHEMES:
        template = (sub_stream and settings.video_gateway_sub.strip()) or settings.video_gateway.strip()
        if not template:
            raise UnplayableStream("no_gateway", f"{scheme}:// needs a media gateway (CITYOPS_VIDEO_GATEWAY)")
        url = template.replace("{code}", quote(camera.code, safe="")).replace(
            "{path}", quote(parts.path.lstrip("/"), safe="/"))
        return Playback(_kind_of(url) or "hls", url)
    if scheme not in ("http", "https") or not parts.netloc:
        raise UnplayableStream("unsupported_scheme",
                               f"stream URL scheme {scheme or '(none)'!r} is not playable (http, https, rtsp)")
    kind = _kind_of(raw)
    if kind is None:
        raise UnplayableStream("unsupported_format",
                               "an http(s) stream must be HLS (.m3u8), WHEP (/whep), MJPEG or a JPEG snapshot")
    return Playback(kind, raw)


def gateway_origin(template: str) -> str | None:
    """The ``scheme://host:port`` origin of a gateway template or stream URL, None when it has none."""
    parts = urlsplit(template.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


#: Patrol plans (轮巡预案): a page of cameras stays at least this long, at most this long, on the wall.
MIN_DWELL_S = 3
MAX_DWELL_S = 3600
MAX_PLAN_CAMERAS = 256


def save_patrol_plan(session: Session, *, name: str, camera_codes: list[str], dwell_s: int,
                     user_id: int | None = None) -> PatrolPlan:
    """Create the patrol plan ``name``, or replace its cameras and dwell time (plans are shared by name).
    Refuses (``InvalidInput``) a blank name, no cameras, an unknown camera, a dwell time under 3 s.
    Audited as ``patrol_plan.save`` by ``user_id``."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("invalid_name", "a plan needs a name of 1 to 64 characters")
    codes = list(dict.fromkeys(code.strip() for code in camera_codes if code.strip()))
    if not codes or len(codes) > MAX_PLAN_CAMERAS:
        raise InvalidInput("invalid_cameras", f"a plan lists 1 to {MAX_PLAN_CAMERAS} cameras")
    known = set(session.scalars(select(Camera.code).where(Camera.code.in_(codes))))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InvalidInput("unknown_camera", f"no camera {unknown[0]!r}")
    if not MIN_DWELL_S <= dwell_s <= MAX_DWELL_S:
        raise InvalidInput("invalid_dwell", f"dwell_s must lie between {MIN_DWELL_S} and {MAX_DWELL_S} seconds")
    plan = session.scalar(select(PatrolPlan).where(PatrolPlan.name == name))
    if plan is None:
        plan = PatrolPlan(name=name, created_by=user_id)
        session.add(plan)
    plan.camera_codes, plan.dwell_s, plan.updated_at = codes, dwell_s, utcnow()
    session.flush()
    write_audit(session, user_id, "patrol_plan.save", f"patrol_plan:{plan.id}",
                detail={"name": plan.name, "cameras": len(codes)})
    return plan


def patrol_page(plan_codes: list[str], cells: int, step: int) -> list[str]:
    """The cameras a ``cells``-cell wall shows at ``step`` of a patrol through ``plan_codes`` (pages in turn)."""
    if not plan_codes:
        return []
    pages = max(1, -(-len(plan_codes) // cells))
    start = (step % pages) * cells
    return plan_codes[start:start + cells]


#: Detection kind → incident category (the kinds of ``dispatch/video_ai/kinds.yaml``).
DETECTION_CATEGORIES: dict[str, str] = {code: spec.category for code, spec in load_kinds().items()}
