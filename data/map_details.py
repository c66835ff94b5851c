"""What the map shows about one thing when it is clicked or found: doorplate, grid, camera, sensor, key
place, incident — and the map search (doorplate code or Chinese address fragment, grid code, camera name
or code). Personal data is masked (张*, 138****1234) unless the reader may see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from data.layers import MAP_OPEN_STATES, sensor_levels
from data.models import (
    Alert,
    Area,
    Camera,
    Doorplate,
    Grid,
    Incident,
    KeyPlace,
    Reading,
    Sensor,
    User,
    VideoPlatform,
    utcnow,
)

#: The kinds of things the map can show details of.
KINDS = ("doorplate", "grid", "camera", "sensor", "key_place", "incident", "alert")
SEARCH_LIMIT = 8
PATROL_LIMIT = 200


def mask_name(name: str | None) -> str | None:
    """A person's name with all but the first character hidden: 张三 → 张*, 欧阳娜娜 → 欧***."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str | None:
    """A phone number with the middle hidden: 13812341234 → 138****1234."""
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


@dataclass(frozen=True)
class Detail:
    """The facts of one map object, ready for a view: a title, labelled fields, and extras by kind."""

    kind: str
    id: Any
    title: str
    lon: float | None
    lat: float | None
    fields: list[tuple[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def _grid_label(session: Session, grid_id: int | None) -> str | None:
    if grid_id is None:
        return None
    return session.scalar(select(Grid.code).where(Grid.id == grid_id))


def doorplate_detail(session: Session, ident: int, *, show_personal: bool) -> Detail | None:
    d = session.get(Doorplate, ident)
    if d is None:
        return None
    name = d.contact_name if show_personal else mask_name(d.contact_name)
    phone = d.contact_phone if show_personal else mask_phone(d.contact_phone)
    return Detail("doorplate", d.id, d.code, d.lon, d.lat, [
        ("code", d.code), ("address", d.address), ("grid", _grid_label(session, d.grid_id)),
        ("households", d.households), ("merchants", d.merchants), ("contact_name", name), ("contact_phone", phone),
    ])


def grid_detail(session: Session, ident: int) -> Detail | None:
    row = session.execute(select(Grid, Area.name, User.display_name).join(Area, Area.id == Grid.community_id)
                          .outerjoin(User, User.id == Grid.worker_id).where(Grid.id == ident)).first()
    if row is None:
        return None
    grid, community, worker = row
    cards = dict(session.execute(
        select(Incident.card, func.count()).where(Incident.grid_id == ident, Incident.state.in_(MAP_OPEN_STATES),
                                                  Incident.merged_into_id.is_(None)).group_by(Incident.card)
    ).all())
    open_count = sum(cards.values())
    return Detail("grid", grid.id, grid.code, (grid.minx + grid.maxx) / 2, (grid.miny + grid.maxy) / 2, [
        ("code", grid.code), ("name", grid.name), ("community", community), ("worker", worker),
        ("open_incidents", open_count), ("red_cards", cards.get("red", 0)), ("yellow_cards", cards.get("yellow", 0)),
    ], {"bounds": (grid.minx, grid.miny, grid.maxx, grid.maxy)})


def camera_detail(session: Session, ident: int) -> Detail | None:
    row = session.execute(select(Camera, VideoPlatform.name).join(VideoPlatform).where(Camera.id == ident)).first()
    if row is None:
        return None
    c, platform = row
    return Detail("camera", c.id, c.name, c.lon, c.lat, [
        ("code", c.code), ("name", c.name), ("platform", platform), ("type", c.type), ("status", c.status),
        ("algorithms", list(c.algorithms or [])), ("grid", _grid_label(session, c.grid_id)),
    ], {"stream_url": c.stream_url, "status": c.status})


def sensor_detail(session: Session, ident: str, now: datetime | None = None) -> Detail | None:
    s = session.get(Sensor, ident)
    if s is None:
        return None
    now = now or utcnow()
    readings = session.execute(select(Reading.ts, Reading.value, Reading.simulated)
                               .where(Reading.sensor_id == ident, Reading.ts >= now - timedelta(hours=24))
                               .order_by(Reading.ts)).all()
    alerts = session.scalars(select(Alert).where(Alert.sensor_id == ident, Alert.state.in_(("pending", "firing")))
                             .order_by(Alert.started_at.desc())).all()
    invented = sum(1 for r in readings if r.simulated)
    # Of the last 24 h, how many readings the simulator invented: shown whenever there can be any.
    simulated = [("simulated_readings", f"{invented}/{len(readings)}")] if s.simulated or invented else []
    return Detail("sensor", s.id, s.name, s.lon, s.lat, [
        ("id", s.id), ("kind", s.kind), ("family", s.family), ("status", s.status), ("simulated", bool(s.simulated)),
        *simulated,
        ("last_value", None if s.last_value is None else f"{s.last_value:g} {s.unit}".strip()),
        ("alert_level", sensor_levels(session).get(s.id)), ("grid", _grid_label(session, s.grid_id)),
    ], {"series": ([r[0] for r in readings], [r[1] for r in readings]), "unit": s.unit,
        "alerts": [(a.id, a.level, a.rule_id, a.state, a.value, a.fired_at or a.started_at) for a in alerts]})


def key_place_detail(session: Session, ident: int) -> Detail | None:
    p = session.get(KeyPlace, ident)
    if p is None:
        return None
    return Detail("key_place", p.id, p.name, p.lon, p.lat, [
        ("code", p.code), ("name", p.name), ("place_kind", p.kind), ("grid", _grid_label(session, p.grid_id)),
    ])


def incident_detail(session: Session, ident: int) -> Detail | None:
    i = session.get(Incident, ident)
    if i is None:
        return None
    return Detail("incident", i.id, i.code, i.lon, i.lat, [
        ("code", i.code), ("title", i.title), ("state", i.state), ("card", i.card), ("category", i.category_code),
        ("source", i.source), ("address", i.address), ("grid", _grid_label(session, i.grid_id)),
        ("reported_at", i.reported_at), ("close_deadline", i.close_deadline),
    ], {"state": i.state, "card": i.card})


def alert_detail(session: Session, ident: int) -> Detail | None:
    a = session.get(Alert, ident)
    return None if a is None else sensor_detail(session, a.sensor_id)


def detail(session: Session, kind: str, ident: Any, *, show_personal: bool = False) -> Detail | None:
    """The detail of one map object, or None when it does not exist (any more)."""
    try:
        if kind == "doorplate":
            return doorplate_detail(session, int(ident), show_personal=show_personal)
        if kind == "sensor":
            return sensor_detail(session, str(ident))
        reader = {"grid": grid_detail, "camera": camera_detail, "key_place": key_place_detail,
                  "incident": incident_detail, "alert": alert_detail}.get(kind)
        return None if reader is None else reader(session, int(ident))
    except (TypeError, ValueError):
        return None


# --- search ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One search result: what it is, its id, a label, and where it is."""

    kind: str
    id: Any
    label: str
    lon: float
    lat: float


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _grid_hit(g: Grid) -> Hit:
    return Hit("grid", g.id, f"{g.code} {g.name}", (g.minx + g.maxx) / 2, (g.miny + g.maxy) / 2)


def _doorplate_hit(d: Doorplate) -> Hit:
    return Hit("doorplate", d.id, f"{d.code} {d.address}", d.lon, d.lat)


def _camera_hit(c: Camera) -> Hit:
    return Hit("camera", c.id, f"{c.name} ({c.code})", c.lon, c.lat)


def search(session: Session, query: str, limit: int = SEARCH_LIMIT) -> list[Hit]:
    """Exact codes first (grid, camera, doorplate), then doorplates by code prefix or address fragment,
    cameras by code prefix or name, grids by name — taken in turn so every kind gets a place."""
    q = query.strip()
    if not q:
        return []
    like, prefix = f"%{_escape(q)}%", f"{_escape(q)}%"
    exact = [_grid_hit(g) for g in session.scalars(select(Grid).where(func.upper(Grid.code) == q.upper()))]
    exact += [_camera_hit(c) for c in session.scalars(select(Camera).where(Camera.code == q))]
    exact += [_doorplate_hit(d) for d in session.scalars(select(Doorplate).where(Doorplate.code == q))]
    fuzzy = [
        [_doorplate_hit(d) for d in session.scalars(
            select(Doorplate).where(or_(Doorplate.code.like(prefix, escape="\\"),
                                        Doorplate.address.like(like, escape="\\")), Doorplate.code != q)
            .order_by(Doorplate.id).limit(limit))],
        [_camera_hit(c) for c in session.scalars(
            select(Camera).where(or_(Camera.code.like(prefix, escape="\\"), Camera.name.like(like, escape="\\")),
                                 Camera.code != q)
            .order_by(Camera.id).limit(limit))],
        [_grid_hit(g) for g in session.scalars(
            select(Grid).where(Grid.name.like(like, escape="\\"), func.upper(Grid.code) != q.upper())
            .order_by(Grid.id).limit(limit))],
    ]
    hits = exact
    for row in range(limit):
        hits += [hits_of_kind[row] for hits_of_kind in fuzzy if row < len(hits_of_kind)]
    return hits[:limit]


@dataclass(frozen=True)
class PatrolCamera:
    """One camera of a video-wall patrol (轮巡) list."""

    id: int
    code: str
    name: str
    status: str
    stream_url: str | None


def patrol_cameras(session: Session, *, grid_ids: list[int] | None = None, camera_ids: list[int] | None = None,
                   limit: int = PATROL_LIMIT) -> list[PatrolCamera]:
    """The cameras of an area (its grids; online first) or of a saved list (in its order)."""
    query = select(Camera.id, Camera.code, Camera.name, Camera.status, Camera.stream_url)
    if camera_ids is not None:
        rows = {r[0]: r for r in session.execute(query.where(Camera.id.in_(camera_ids[:limit])))}
        return [PatrolCamera(*rows[i]) for i in camera_ids[:limit] if i in rows]
    if grid_ids is not None:
        query = query.where(Camera.grid_id.in_(grid_ids))
    rows = session.execute(query.order_by((Camera.status == "online").desc(), Camera.id).limit(limit)).all()
    return [PatrolCamera(*r) for r in rows]
