"""Citizens' reports (随手拍, issue 20): the public categories, tracking codes, the public status of a
report, and the guards of the open side — database token buckets per address and per phone, and
single-use proof-of-work challenges — shared by every web worker because they live in the database.

A report becomes an incident of source ``citizen`` through ``dispatch.service.create_incident``, so
routing, grid, department and deadlines are those of every other intake. What a citizen reads back is
``public_report``: a status word, the category, the times and the public reply — never a name, a phone,
the description, the place or anyone's notes.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.models import Category, Doorplate, Incident, IncidentState, PublicChallenge, RateBucket
from dispatch import photos
from dispatch.hotline import PHONE
from dispatch.service import Caller, InvalidInput, NotFound, create_incident, to_iso

S = IncidentState

#: The short list a citizen chooses from: public code → our category (GB/T 30428 codes of the catalog).
#: A code whose category the city does not have is left out of the list.
PUBLIC_CATEGORIES: Mapping[str, str] = {
    "rubbish": "S0101",
    "dirty_road": "S0103",
    "road_damage": "S0401",
    "manhole": "B0103",
    "street_lamp": "B0110",
    "blocked_sewer": "S0403",
    "water_pipe": "S0404",
    "illegal_parking": "S0503",
    "street_vending": "S0501",
    "small_ads": "S0201",
    "construction_noise": "S0301",
    "illegal_building": "S0505",
    "street_tree": "B0401",
    "fire_hazard": "S0406",
    "other": "S0603",
}

#: A citizen's description, at most this long (shorter than staff's: it is typed on a phone).
DESCRIPTION_MAX = 1000
MAX_PHOTOS = 3
TITLE_CHARS = 60
#: Tracking codes: 10 characters of Crockford's base32 (no I, L, O, U) — 50 random bits.
TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_LENGTH = 10
TRACKING_CODE = re.compile(rf"^[{TRACKING_ALPHABET}]{{{TRACKING_LENGTH}}}$")
#: A proof-of-work challenge is good for this long, once.
CHALLENGE_TTL = timedelta(minutes=10)
COUNTER = re.compile(r"^[0-9]{1,20}$")
HOUR = timedelta(hours=1)


# --- public categories ----------------------------------------------------------------------------


def public_categories(session: Session) -> list[tuple[str, Category]]:
    """The public codes whose category exists in this city, in the table's order, with the category."""
    found = {c.code: c for c in session.scalars(select(Category).where(
        Category.code.in_(set(PUBLIC_CATEGORIES.values()))))}
    return [(public, found[code]) for public, code in PUBLIC_CATEGORIES.items() if code in found]


def public_code_of(category_code: str) -> str | None:
    """The first public code that maps to ``category_code`` (None: a category citizens do not choose)."""
    return next((public for public, code in PUBLIC_CATEGORIES.items() if code == category_code), None)


# --- rate limits: token buckets in the database ---------------------------------------------------


def take_token(session: Session, key: str, per_hour: int, now: datetime) -> float | None:
    """Take one token from the bucket ``key`` (``per_hour`` tokens, refilled evenly over an hour).

    Returns None when a token was taken, else the seconds until one is back. The update is a
    compare-and-set on the bucket's last update, so concurrent workers never both spend the last token.
    """
    rate = per_hour / 3600.0
    for _ in range(5):
        row = session.execute(select(RateBucket.tokens, RateBucket.updated_at).where(RateBucket.key == key)).first()
        if row is None:
            try:
                with session.begin_nested():
                    session.add(RateBucket(key=key, tokens=per_hour - 1.0, updated_at=now))
                return None
            except IntegrityError:
                continue  # another worker made the bucket first: read it
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        tokens = min(float(per_hour), row.tokens + elapsed * rate)
        if tokens < 1.0:
            return math.ceil((1.0 - tokens) / rate)
        taken = session.execute(update(RateBucket).where(
            RateBucket.key == key, RateBucket.updated_at == row.updated_at, RateBucket.tokens == row.tokens,
        ).values(tokens=tokens - 1.0, updated_at=now))
        if taken.rowcount == 1:
            return None
    return 1.0  # lost the race five times: the bucket is busy, ask to come back


def phone_key(phone: str) -> str:
    """The bucket key of a phone number (hashed: the table holds no phone numbers)."""
    return "report:phone:" + hashlib.sha256(phone.encode()).hexdigest()[:32]


# --- proof of work ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """Find a ``counter`` whose SHA-256 of ``"<nonce>:<counter>"`` starts with ``difficulty`` zero bits."""

    nonce: str
    difficulty: int
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"nonce": self.nonce, "difficulty": self.difficulty, "expires_at": to_iso(self.expires_at),
                "algorithm": "sha256(nonce:counter) with `difficulty` leading zero bits"}


def issue_challenge(session: Session, difficulty: int, now: datetime) -> Challenge:
    """A new challenge; expired challenges and buckets idle for an hour (full again) are cleared out."""
    session.execute(delete(PublicChallenge).where(PublicChallenge.expires_at < now))
    session.execute(delete(RateBucket).where(RateBucket.updated_at < now - HOUR))
    challenge = Challenge(secrets.token_hex(16), difficulty, now + CHALLENGE_TTL)
    session.add(PublicChallenge(nonce=challenge.nonce, difficulty=difficulty, expires_at=challenge.expires_at))
    session.flush()
    return challenge


def leading_zero_bits(digest: bytes) -> int:
    """How many leading bits of ``digest`` are zero."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(nonce: str, counter: str, difficulty: int) -> bool:
    """True when ``counter`` solves the challenge ``nonce`` at ``difficulty``."""
    return leading_zero_bits(hashlib.sha256(f"{nonce}:{counter}".encode()).digest()) >= difficulty


def solve(nonce: str, difficulty: int) -> str:
    """A counter that solves the challenge (what the page's script does; for tests and clients)."""
    counter = 0
    while not solves(nonce, str(counter), difficulty):
        counter += 1
    return str(counter)


def redeem_challenge(session: Session, nonce: str | None, counter: str | None, now: datetime) -> None:
    """Spend the challenge ``nonce`` and check that ``counter`` solves it; InvalidInput (``pow_required``,
    ``pow_invalid``) otherwise. The nonce is spent first, by one conditional UPDATE, whatever the counter:
    two workers can never both use it, and a wrong guess costs the challenge (the caller commits it)."""
    nonce, counter = (nonce or "").strip(), (counter or "").strip()
    if not nonce or not counter:
        raise InvalidInput("pow_required", "get a challenge from /api/v1/public/challenge and send its "
                                           "nonce as `challenge` with the solving `counter`")
    spent = session.execute(update(PublicChallenge).where(
        PublicChallenge.nonce == nonce[:64], PublicChallenge.used_at.is_(None), PublicChallenge.expires_at > now,
    ).values(used_at=now))
    if spent.rowcount != 1:
        raise InvalidInput("pow_invalid", "the challenge is unknown, used already or expired; get a new one")
    difficulty = session.scalar(select(PublicChallenge.difficulty).where(PublicChallenge.nonce == nonce))
    if not COUNTER.match(counter) or not solves(nonce, counter, difficulty or 0):
        raise InvalidInput("pow_invalid", "the counter does not solve the challenge; get a new one")


# --- reports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitizenReport:
    """What a citizen sends: a public category, a description, a place (a point or a doorplate code) and
    optionally a name and a phone to be called back on."""

    category: str
    description: str
    lon: float | None = None
    lat: float | None = None
    doorplate: str | None = None
    name: str | None = None
    phone: str | None = None


def normalise_phone(phone: str | None) -> str | None:
    """The phone without spaces, or None; InvalidInput ``invalid_phone`` when it is no phone number."""
    phone = re.sub(r"\s", "", phone or "")
    if not phone:
        return None
    if not PHONE.match(phone):
        raise InvalidInput("invalid_phone", "the phone number is not valid")
    return phone


def new_tracking_code() -> str:
    """A random tracking code (10 base32 characters)."""
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def _place(session: Session, report: CitizenReport) -> tuple[float | None, float | None, str | None]:
    if report.doorplate:
        plate = session.scalar(select(Doorplate).where(Doorplate.code == report.doorplate.strip()))
        if plate is None:
            raise InvalidInput("unknown_doorplate", f"no doorplate {report.doorplate!r}")
        return plate.lon, plate.lat, plate.address
    if report.lon is None or report.lat is None:
        raise InvalidInput("location_required", "a report needs a place: lon and lat, or a doorplate code")
    return report.lon, report.lat, None


def check_report(report: CitizenReport) -> str:
    """Refuse what is wrong with ``report`` before anything is spent on it; returns the category code."""
    category = PUBLIC_CATEGORIES.get(report.category or "")
    if category is None:
        raise InvalidInput("unknown_category", "category must be one of GET /api/v1/public/categories")
    description = (report.description or "").strip()
    if not description:
        raise InvalidInput("description_required", "a description is required")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput("description_too_long", f"a description has at most {DESCRIPTION_MAX} characters")
    if not report.doorplate and (report.lon is None or report.lat is None):
        raise InvalidInput("location_required", "a report needs a place: lon and lat, or a doorplate code")
    if report.name is not None and len(report.name.strip()) > 64:
        raise InvalidInput("invalid_caller", "a name has at most 64 characters")
    normalise_phone(report.phone)
    return category


def clean_photos(uploads: Sequence[bytes]) -> list[photos.CleanPhoto]:
    """Check and re-encode every photo before anything is stored (``photos.PhotoRejected`` says why)."""
    if len(uploads) > MAX_PHOTOS:
        raise photos.PhotoRejected("too_many_photos", f"at most {MAX_PHOTOS} photos")
    return [photos.clean_photo(data) for data in uploads]


def submit_report(session: Session, report: CitizenReport, cleaned: Sequence[photos.CleanPhoto], *,
                  ip: str | None = None) -> Incident:
    """File a citizen's report as an incident of source ``citizen`` with a fresh tracking code, its photos
    attached; InvalidInput names what is wrong (nothing is stored then: the caller's unit of work rolls
    back)."""
    category = check_report(report)
    if session.get(Category, category) is None:
        raise InvalidInput("unknown_category", "category must be one of GET /api/v1/public/categories")
    lon, lat, address = _place(session, report)
    description = report.description.strip()
    incident = create_incident(
        session, category_code=category, source="citizen",
        title=textwrap.shorten(description, TITLE_CHARS, placeholder="…") or description[:TITLE_CHARS],
        description=description, lon=lon, lat=lat, address=address, actor=None, inside_city=True,
        caller=Caller(name=(report.name or "").strip() or None, phone=normalise_phone(report.phone)),
    )
    incident.tracking_code = _unused_tracking_code(session)
    for photo in cleaned:
        photos.store_photo(session, photo.content, incident_id=incident.id, uploaded_by=None)
    write_audit(session, None, "citizen.report", f"incident:{incident.code}", ip=ip,
                detail={"photos": len(cleaned), "doorplate": report.doorplate or None})
    session.flush()
    return incident


def _unused_tracking_code(session: Session) -> str:
    while True:  # 50 random bits: a collision is all but impossible, and then we draw again
        code = new_tracking_code()
        if session.scalar(select(Incident.id).where(Incident.tracking_code == code)) is None:
            return code


#: The status word a citizen reads, by incident state.
PUBLIC_STATUS: Mapping[str, str] = {
    S.REPORTED: "received", S.FILED: "accepted", S.DISPATCHED: "in_progress", S.IN_PROGRESS: "in_progress",
    S.RESOLVED: "in_progress", S.CLOSED: "closed", S.REJECTED: "not_accepted",
}


def public_status(incident: Incident) -> str:
    """The public status word of ``incident`` (a merged duplicate reads ``merged``)."""
    if incident.merged_into_id is not None:
        return "merged"
    return PUBLIC_STATUS.get(incident.state, "received")


def public_report(session: Session, tracking_code: str) -> dict[str, Any]:
    """What a citizen may read of the report ``tracking_code``; NotFound for any code that names none (a
    malformed one too, with the same answer)."""
    code = (tracking_code or "").strip().upper()
    incident = session.scalar(select(Incident).where(Incident.tracking_code == code)) \
        if TRACKING_CODE.match(code) else None
    if incident is None:
        raise NotFound("report_not_found", "no report with this tracking code")
    category = incident.category
    return {
        "tracking_code": incident.tracking_code,
        "status": public_status(incident),
        "category": public_code_of(incident.category_code),
        "category_name": {"zh": category.name_zh, "en": category.name_en},
        "reported_at": to_iso(incident.reported_at),
        "closed_at": to_iso(incident.closed_at),
        "reply": incident.public_reply,
    }
