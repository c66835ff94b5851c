"""The CityOps data model (SQLAlchemy 2.0): places, assets, feeds, alerts, incidents, people, audit.

Geometry is stored portably — points as ``lon``/``lat`` columns (WGS-84), polygons and lines as WKB
with their bounding box beside them — so the same schema runs on SQLite and PostgreSQL.
Every timestamp is stored in UTC and comes back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domain.enums import AreaLevel as AreaLevel  # re-exported: the enums live in the domain core
from domain.enums import IncidentState as IncidentState
from domain.enums import Role as Role


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned as aware UTC; naive input is refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: CityOps stores only timezone-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every CityOps table."""


class PolygonMixin:
    """A WKB geometry with its bounding box, for bbox pre-filtering without a spatial extension."""

    geom: Mapped[bytes] = mapped_column(LargeBinary)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)


# --- places -------------------------------------------------------------------------------------


class Area(PolygonMixin, Base):
    """An administrative area above the unit grid: city, district, street/town or community."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)

    parent: Mapped[Area | None] = relationship(remote_side=[id])


class Grid(PolygonMixin, Base):
    """A unit grid (单元网格): the smallest management area, with one responsible grid worker."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_grids_worker"), index=True
    )

    community: Mapped[Area] = relationship()


class Doorplate(Base):
    """A doorplate (门楼牌): the address plate of a building."""

    __tablename__ = "doorplates"
    __table_args__ = (Index("ix_doorplates_lon_lat", "lon", "lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    merchants: Mapped[int] = mapped_column(Integer, default=0)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(32))


class VideoPlatform(Base):
    """A video platform (视频监控平台) that cameras belong to."""

    __tablename__ = "video_platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))


class Camera(Base):
    """A camera point (视频点位)."""

    __tablename__ = "cameras"
    __table_args__ = (Index("ix_cameras_lon_lat", "lon", "lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    platform_id: Mapped[int] = mapped_column(ForeignKey("video_platforms.id"), index=True)
    type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="online", index=True)
    stream_url: Mapped[str | None] = mapped_column(String(255))
    algorithms: Mapped[list[str]] = mapped_column(JSON, default=list)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    #: Camera health (issue 19): when ``status`` last changed, and the incident filed for the current
    #: outage (one per outage; cleared when the camera is back online).
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offline_incident_id: Mapped[int | None] = mapped_column(Integer)


class PatrolPlan(Base):
    """A named, shared patrol plan (轮巡预案, issue 19): cameras shown in turn on the video wall, ``dwell_s``
    seconds each page, in the order given."""

    __tablename__ = "patrol_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    camera_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    dwell_s: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Asset(Base):
    """A monitored asset of a lifeline or environmental network: pipe, bridge, outfall, station."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    family: Mapped[str] = mapped_column(String(24), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)


class KeyPlace(Base):
    """A key risk source, key place or key project (重点风险源/重点场所/重点项目)."""

    __tablename__ = "key_places"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    #: Its grade (e.g. 一级/二级, or major/general) as the city's register gives it.
    level: Mapped[str | None] = mapped_column(String(24))
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    #: Its outline as WKB when the register draws it as a polygon (``lon``/``lat`` is then a point inside it).
    geom: Mapped[bytes | None] = mapped_column(LargeBinary)


class Resource(Base):
    """An emergency resource (应急资源): a rescue team, equipment or a supplies store, or a shelter."""

    __tablename__ = "resources"
    __table_args__ = (Index("ix_resources_lon_lat", "lon", "lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    #: People a team has, pieces of equipment or supplies, or people a shelter takes.
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="available", index=True)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)


class BasemapFeature(Base):
    """A basemap feature drawn from our own data: road, river, water body or boundary line."""

    __tablename__ = "basemap_features"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    geom: Mapped[bytes] = mapped_column(LargeBinary)


# --- feeds and alerts ---------------------------------------------------------------------------


class Sensor(Base):
    """A lifeline or environmental sensor."""

    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    family: Mapped[str] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(16))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="online")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_ts: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When its newest reading was received (kept by the alert engine): what ``stale`` rules judge (DESIGN §5).
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A demo-city sensor that the simulator drives (issue 13); imported and API-made sensors never are.
    #: Server default only, so rows written by bulk paths and older schemas need no value.
    simulated: Mapped[bool] = mapped_column(Boolean, server_default="0")


class Reading(Base):
    """One sensor reading; (sensor_id, ts) is unique.

    On PostgreSQL the table is partitioned by day on ``ts`` (migration 0008, ``data/partitions.py``): its
    primary key there is (id, ts) — the partition key must be in every unique index — and ids are bigint
    (a city's readings outgrow ``integer`` within a year). Ids stay unique and increasing either way: the
    alert engine's cursor relies on it. SQLite keeps ``INTEGER PRIMARY KEY`` (the rowid).
    """

    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("sensor_id", "ts", name="uq_readings_sensor_ts"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Written by the simulator, not measured (the column default keeps every other ingest path measured).
    simulated: Mapped[bool] = mapped_column(Boolean, server_default="0")


class Rule(Base):
    """An alert rule; ``body`` is the validated rule document of DESIGN §5."""

    __tablename__ = "rules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """One alert episode of a (rule, sensor) pair: pending → firing → resolved."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_rule_sensor_state", "rule_id", "sensor_id", "state"),
                      Index("ix_alerts_fired_at", "fired_at"))  # warning statistics read a period of firings

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    level: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_ts: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The highest level reached while firing: an alert muted by inhibition is filed at it once its sensor is back.
    peak_level: Mapped[str | None] = mapped_column(String(8))
    #: Why notification is muted (``silence``, ``maintenance``, ``inhibited``); None = not muted.
    muted: Mapped[str | None] = mapped_column(String(16), index=True)  # index: the engine seeks inhibited alerts
    #: Warning review (0021, ``alerts.review``): ``confirmed``, ``false_alarm`` (with ``review_reason``: device_fault,
    #: calibration, environment, test) or ``exercise``; who reviewed it and when. None = not reviewed yet.
    review: Mapped[str | None] = mapped_column(String(16))
    review_reason: Mapped[str | None] = mapped_column(String(16))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Silence(Base):
    """A silence or maintenance window: mutes the alerts of a rule, sensor and/or grid for a time window."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="silence")  # silence | maintenance
    rule_id: Mapped[str | None] = mapped_column(String(64))
    sensor_id: Mapped[str | None] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReadingRollup(Base):
    """Hourly aggregate of raw readings: kept up to date by the rollups job on PostgreSQL; on SQLite written by
    the retention job before it deletes readings (``data.readings``, ``alerts.retention``)."""

    __tablename__ = "reading_rollups"

    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    total: Mapped[float] = mapped_column(Float)


class JobState(Base):
    """Small durable key/value state of scheduler jobs (e.g. the last evaluated reading id)."""

    __tablename__ = "job_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)


class SchedulerLease(Base):
    """The lease that makes exactly one scheduler active across processes."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- dispatch -----------------------------------------------------------------------------------


class Department(Base):
    """A responsible department (处置部门)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    #: City setup (0014): the code of the department above this one, if any (``import departments``).
    parent_code: Mapped[str | None] = mapped_column(String(32))


class Category(Base):
    """A GB/T 30428-style incident category: a component (部件) or event (事件) class."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    major: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    handle_hours: Mapped[float] = mapped_column(Float)
    close_hours: Mapped[float] = mapped_column(Float)
    # dispatch (0002_dispatch): count limit hours in working hours (WorkPeriod, CalendarDay) only.
    working_hours: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    department: Mapped[Department] = relationship()


class Incident(Base):
    """A case in the dispatch-and-closure loop (DESIGN §6); ``version`` guards against stale writes."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_reported_at", "reported_at"),
        Index("ix_incidents_closed_at", "closed_at"),
        Index("ix_incidents_state_card", "state", "card"),
        # KPI scopes (0006): a scoped snapshot reads only its scope's part of the period.
        Index("ix_incidents_department_reported", "department_id", "reported_at"),
        Index("ix_incidents_grid_reported", "grid_id", "reported_at"),
        Index("ix_incidents_category_reported", "category_code", "reported_at"),
        Index("ix_incidents_source_reported", "source", "reported_at"),
        # The console's queue filtered by card alone, newest first (0009).
        Index("ix_incidents_card_reported", "card", "reported_at"),
        # Hotline repeat calls (0017): earlier calls from the same phone or about the same address.
        Index("ix_incidents_caller_phone_reported", "caller_phone", "reported_at"),
        Index("ix_incidents_address_reported", "address", "reported_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=IncidentState.REPORTED)
    version: Mapped[int] = mapped_column(Integer, default=1)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"), index=True)
    source: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(255))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handle_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card: Mapped[str] = mapped_column(String(8), default="none")
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # dispatch (0002_dispatch): severity, the 12345 hotline caller and rating, a proposed duplicate.
    severity: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")
    caller_name: Mapped[str | None] = mapped_column(String(64))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    caller_email: Mapped[str | None] = mapped_column(String(128))
    hotline_mode: Mapped[str | None] = mapped_column(String(16))
    # 24 (0017): "basically_satisfied" has 19 characters, too long for PostgreSQL's former varchar(16).
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # Open311 (0013): the description the citizen or an operator made public; Open311 reads show only it.
    public_description: Mapped[str | None] = mapped_column(Text)
    # Citizen reports (0015): the unguessable code a citizen follows a report by, and the reply shown to them.
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    public_reply: Mapped[str | None] = mapped_column(Text)
    # Hotline replies (0017): when the reply (统一回复) was given to the caller; its text is ``public_reply``.
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Command tiers (0020): the district or street centre handling it (下派 / 上报); None = the city centre.
    tier_area_code: Mapped[str | None] = mapped_column(String(32), index=True)

    category: Mapped[Category] = relationship()
    grid: Mapped[Grid | None] = relationship()
    department: Mapped[Department | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    history: Mapped[list[IncidentHistory]] = relationship(
        back_populates="incident", order_by="IncidentHistory.id"
    )
    photos: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", viewonly=True)  # 0002_dispatch


class IncidentHistory(Base):
    """One action taken on an incident (who, when, from-state, to-state, note)."""

    __tablename__ = "incident_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)

    incident: Mapped[Incident] = relationship(back_populates="history")
    actor: Mapped[User | None] = relationship()


# --- dispatch: limits, calendar, photos, notifications (0002_dispatch) ---------------------------


class CategoryLimit(Base):
    """A handling and closing limit of a category for one severity (overrides the category's own)."""

    __tablename__ = "category_limits"

    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code", ondelete="CASCADE"), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    handle_hours: Mapped[float] = mapped_column(Float)
    close_hours: Mapped[float] = mapped_column(Float)


class WorkPeriod(Base):
    """A working period of a weekday (0 = Monday), in minutes after local midnight: [start, end)."""

    __tablename__ = "work_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, index=True)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class CalendarDay(Base):
    """A day that breaks the weekly pattern: a holiday (``workday`` false) or a make-up working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(64))


class Attachment(Base):
    """A photo of an incident (patrol, resolution, camera snapshot), re-encoded and stored under a random name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    history_id: Mapped[int | None] = mapped_column(ForeignKey("incident_history.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="photo")
    stored_name: Mapped[str] = mapped_column(String(96), unique=True)
    thumb_name: Mapped[str] = mapped_column(String(96))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """A notice to a department's handlers and the desk (escalation 督办, postponement request, ...)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(24))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    incident: Mapped[Incident] = relationship()


class HotlineFollowup(Base):
    """A follow-up call (回访, 0017) to the caller of a closed hotline order: ``pending`` until the seat
    records it ``done``, reached or not, and when reached how satisfied (满意/基本满意/不满意) and why."""

    __tablename__ = "hotline_followups"
    __table_args__ = (Index("ix_hotline_followups_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reached: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    called_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: A dissatisfied caller's order was returned for rework (返工) from this call.
    reopened: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    incident: Mapped[Incident] = relationship()


class NotificationChannel(Base):
    """Where notifications reach people outside the app (0016): an Apprise URL for a department, a user
    or a duty post; the URL is stored Fernet-encrypted, beside a masked copy to show."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    url_encrypted: Mapped[str] = mapped_column(Text)
    url_masked: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    duty_post: Mapped[str | None] = mapped_column(String(32), index=True)
    min_level: Mapped[str] = mapped_column(String(8), default="blue")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Deleting a channel keeps its row (and its delivery record) and cancels what it has not sent.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class OutboxMessage(Base):
    """One message of one event to one channel (0016), written in the event's transaction and sent by the
    outbox job; ``idempotency_key`` (event, channel) is unique, so an event never queues twice."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    #: The caller's phone a reply SMS goes to (0028): put for ``{phone}`` in the callers' channel URL when sent.
    recipient: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | sent | cancelled | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    channel: Mapped[NotificationChannel] = relationship()


class DeliveryAttempt(Base):
    """One try at sending an outbox message (0016): when, whether it went, and the error if not."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


# --- duty rota, shift log and handover (0022, issue 17 §4) ---------------------------------------


class DutyRota(Base):
    """Who holds a duty post (值班长, 值班员, 带班领导) in one shift of one day (0022); ``starts_at`` and
    ``ends_at`` (UTC) are the shift's span, so overlapping entries for one post can be refused."""

    __tablename__ = "duty_rota"
    __table_args__ = (UniqueConstraint("day", "shift", "post", name="uq_duty_rota_day_shift_post"),
                      Index("ix_duty_rota_span", "starts_at", "ends_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    shift: Mapped[str] = mapped_column(String(16))
    post: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class DutyLogEntry(Base):
    """One entry of a shift's log (0022): an event, an instruction or an open matter, by whom and when."""

    __tablename__ = "duty_log"
    __table_args__ = (Index("ix_duty_log_day_shift", "day", "shift"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    shift: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()


class DutyHandover(Base):
    """The handover note of one shift to the next (0022), and who of the next shift acknowledged it, when."""

    __tablename__ = "duty_handovers"
    __table_args__ = (UniqueConstraint("day", "shift", name="uq_duty_handovers_day_shift"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    shift: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    acked_by: Mapped[User | None] = relationship(foreign_keys=[acked_by_id])


# --- people and audit ---------------------------------------------------------------------------


class User(Base):
    """A user with one role; workers belong to a grid, handlers to a department."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Sessions (0012): a browser session carries the epoch it began in and ends when this moves on
    #: (sign-out, password, role or activity change end every session of the user).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: City setup (0014): the district or street code an operator or leader is scoped to (DESIGN §3
    #: ``users add --area``), and the hash of the one-time activation code of an imported user.
    area_code: Mapped[str | None] = mapped_column(String(32))
    activation_hash: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))


class LoginFailure(Base):
    """A failed sign-in (0012): the name tried and the address it came from; sign-in is throttled per
    (name, address) and per address from these rows, and an admin's unlock deletes a name's rows."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_name_ip", "username", "ip"),
                      Index("ix_login_failures_ip_at", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """An API bearer token (kind ``api``, owned by a user) or an Open311 ``api_key`` (kind ``open311``,
    issued to a client application by name, owned by no user); only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Open311 client keys (0013).
    kind: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    client: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User | None] = relationship()


class AuditLog(Base):
    """The append-only operation audit (操作审计): every write and every login."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))


class RateBucket(Base):
    """A token bucket of the public side (0015), e.g. ``report:ip:1.2.3.4``: shared by every web worker."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PublicChallenge(Base):
    """A proof-of-work challenge handed to the public reporting page (0015); single use, expiring."""

    __tablename__ = "public_challenges"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    difficulty: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


from data import admin_models as _admin_models  # noqa: E402,F401  (issue 16: settings overrides join the metadata)
from data import emergency_models as _emergency_models  # noqa: E402,F401  (issue 18: emergency response joins the metadata)
from data import joint_models as _joint_models  # noqa: E402,F401  (issue 17 §2: joint tasks join the metadata)
from data import video_models as _video_models  # noqa: E402,F401  (issue 19 §4: video detections and event snapshots)


class KpiDaily(Base):
    """A local day's KPI sums (0029, issue 21; ``dispatch.kpi`` "daily rollups", ``dispatch.kpi_rollup``): the
    sums of every aggregate column of a snapshot over the day's counted incidents, as of ``rolled_at``.
    Triggers on ``incidents`` delete the rows a write to an incident could change."""

    __tablename__ = "kpi_daily"

    day_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    day_end: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The latest time of the day's incidents the figures compare with their "as of" moment (None: no such time).
    max_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ``dispatch.kpi.calendar_key`` of the working calendar the hotline's working days were counted by.
    calendar_key: Mapped[str] = mapped_column(String(64))
    #: aggregate column name → sum (integers).
    sums: Mapped[dict] = mapped_column(JSON)


# --- the big screen at province scale (0030, issue 21; ``data.layers``) -------------------------------
from sqlalchemy import text as _text  # noqa: E402

from domain.states import UNFINISHED_STATES  # noqa: E402

#: The incidents the live map shows (``data.layers.MAP_OPEN_STATES``): ``reported``, then the open states.
MAP_OPEN_STATES: tuple[str, ...] = (IncidentState.REPORTED, *sorted(UNFINISHED_STATES - {IncidentState.REPORTED}))
_OPEN_SQL = "state IN ({}) AND merged_into_id IS NULL".format(", ".join(f"'{s}'" for s in MAP_OPEN_STATES))
_ON_MAP_SQL = f"{_OPEN_SQL} AND lon IS NOT NULL"
# Partial covering indexes of the unfinished, unmerged incidents (the conditions written as the migration's).
Index("ix_incidents_open_grid", Incident.state, Incident.grid_id, Incident.card,
      sqlite_where=_text(_OPEN_SQL), postgresql_where=_text(_OPEN_SQL))
Index("ix_incidents_open_reported", Incident.state, Incident.reported_at, Incident.id, Incident.grid_id, Incident.lon,
      sqlite_where=_text(_ON_MAP_SQL), postgresql_where=_text(_ON_MAP_SQL))


class ScreenCounter(Base):
    """A change counter (0030): ``writes``, bumped by triggers in every transaction that writes incidents, joint
    tasks, the working calendar, areas or grids, so that a screen knows, by one tiny read, whether what it keeps
    may have changed (``data.layers.until_changed``); ``epoch``, a random number per database."""

    __tablename__ = "screen_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
