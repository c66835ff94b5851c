"""Incident photos: accepted only when small enough and really JPEG, PNG or WebP (magic bytes, then a
full decode), re-encoded without metadata (no EXIF/GPS of the phone), stored under a random name in
the upload folder with a thumbnail, and recorded as ``Attachment`` rows.

Who may add a photo is decided by the permission table: a photo is evidence of a report, of handling
or of verification, so its uploader must be the incident's reporter or may ``file``, ``resolve`` or
``close`` it within their scope (a leader, who only escalates and comments, adds none).
The client's filename and declared content type are never used. Files are written before the
database row is committed; a failed transaction leaves an unreferenced file, never a row without one.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from data.files import write_private
from data.models import Attachment, Incident, User
from dispatch.service import ActionNotAllowed, InvalidInput, may_act_on
from dispatch.workflow import Action
from settings import get_settings

#: The largest upload accepted (bytes) — a phone photo, not a video.
MAX_BYTES = 5 * 1024 * 1024
#: Larger photos are scaled down to this many pixels on their long side.
MAX_SIDE = 2048
THUMB_SIDE = 320
#: A decompression bomb (a tiny file of a giant image) is refused above this many pixels.
MAX_PIXELS = 40_000_000
KINDS = ("photo", "snapshot")
#: Whoever may take one of these actions on an incident (within their scope) may add photos to it.
PHOTO_ACTIONS = (Action.FILE, Action.RESOLVE, Action.CLOSE)

#: Accepted formats: Pillow format → (content type, file extension).
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


class PhotoRejected(InvalidInput):
    """An upload that is not an acceptable photo; ``status`` is the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(code, message)
        self.status = status


def upload_dir() -> Path:
    """The folder photos are stored in (``CITYOPS_UPLOADS_DIR``, default ``var/uploads``)."""
    return Path(get_settings().uploads_dir)


def sniff(data: bytes) -> str | None:
    """The format the magic bytes of ``data`` announce (JPEG, PNG, WEBP), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class CleanPhoto:
    """A photo decoded and re-encoded without metadata, with its thumbnail (always JPEG)."""

    content: bytes
    thumbnail: bytes
    format: str
    width: int
    height: int


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=85)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def clean_photo(data: bytes) -> CleanPhoto:
    """Check and re-encode an uploaded photo; PhotoRejected says why it is refused."""
    if len(data) > MAX_BYTES:
        raise PhotoRejected("photo_too_large", f"a photo may have at most {MAX_BYTES // (1024 * 1024)} MB", 413)
    if not data:
        raise PhotoRejected("photo_empty", "the photo is empty")
    fmt = sniff(data)
    if fmt is None:
        raise PhotoRejected("photo_type", "only JPEG, PNG and WebP photos are accepted", 415)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoRejected("photo_too_large", "the image has too many pixels", 413)
            probe.load()
            image = ImageOps.exif_transpose(probe)  # keep the orientation, drop the EXIF itself
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PhotoRejected("photo_corrupt", "the photo cannot be decoded") from None
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    image.info = {}  # no EXIF, XMP, ICC or comments travel on
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return CleanPhoto(_encode(image, fmt), _encode(thumb, "JPEG"), fmt, image.width, image.height)


def may_add_photo(user: User, incident: Incident) -> bool:
    """True when ``user`` reported ``incident`` or may file, resolve or close it within their scope."""
    reporter = incident.history[0].actor_id if incident.history else None
    return (reporter is not None and reporter == user.id) or any(
        may_act_on(user, incident, action) for action in PHOTO_ACTIONS)


def _write(folder: Path, name: str, content: bytes) -> None:
    write_private(folder / name, content)  # photos show people and homes: 0600 in 0700 folders


def store_photo(
    session: Session,
    data: bytes,
    *,
    incident_id: int,
    uploaded_by: int | None,
    kind: str = "photo",
    folder: Path | None = None,
) -> Attachment:
    """Check, re-encode and store a photo of an incident; returns its (flushed) Attachment row.

    ``uploaded_by`` (None: the system, e.g. a camera's snapshot) must be allowed to add photos to the
    incident (``may_add_photo``), else ActionNotAllowed("forbidden_action")."""
    if kind not in KINDS:
        raise InvalidInput("invalid_kind", f"kind must be one of {', '.join(KINDS)}")
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise InvalidInput("incident_not_found", f"no incident {incident_id}")
    uploader = session.get(User, uploaded_by) if uploaded_by is not None else None
    if uploaded_by is not None and (uploader is None or not may_add_photo(uploader, incident)):
        raise ActionNotAllowed("forbidden_action", f"you may not add photos to incident {incident_id}")
    photo = clean_photo(data)
    folder = folder or upload_dir()
    content_type, extension = FORMATS[photo.format]
    token = secrets.token_hex(16)
    stored, thumb = f"{token[:2]}/{token}.{extension}", f"{token[:2]}/{token}.thumb.jpg"
    _write(folder, stored, photo.content)
    _write(folder, thumb, photo.thumbnail)
    attachment = Attachment(
        incident_id=incident_id, kind=kind, stored_name=stored, thumb_name=thumb, content_type=content_type,
        size=len(photo.content), width=photo.width, height=photo.height, uploaded_by=uploaded_by,
    )
    session.add(attachment)
    session.flush()
    return attachment


def photo_file(attachment: Attachment, *, thumbnail: bool = False, folder: Path | None = None) -> Path:
    """Where the stored file (or its thumbnail) of ``attachment`` is; never outside the upload folder."""
    folder = (folder or upload_dir()).resolve()
    path = (folder / (attachment.thumb_name if thumbnail else attachment.stored_name)).resolve()
    if folder not in path.parents:
        raise InvalidInput("invalid_attachment", "attachment path outside the upload folder")
    return path
