"""The emergency-response tables (issue 18, migrations 0025 and 0026): plan versions, events (突发事件) with their
incidents, alerts, timeline (the department tasks are the joint tasks of its incidents), and resource assignments.

The service that writes them is ``dispatch.emergency``; the plan documents are ``dispatch.emergency_plans``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from data.models import Base, UTCDateTime, utcnow


class EmergencyPlan(Base):
    """One version of an emergency plan (应急预案); ``body`` is the validated plan document."""

    __tablename__ = "emergency_plans"
    __table_args__ = (UniqueConstraint("plan_id", "version", name="uq_emergency_plans_id_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    scenario: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="file")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class EmergencyEvent(Base):
    """An event (突发事件): an area and a time grouping incidents and alerts, under a plan at a level."""

    __tablename__ = "emergency_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    scenario: Mapped[str] = mapped_column(String(64))
    #: I–IV (I the highest) once a plan is activated; None before.
    level: Mapped[str | None] = mapped_column(String(4))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float, default=2000)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The first alert of the event (its ``fired_at``, or ``started_at``), the start of the KPI clock.
    first_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    controlled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Compare-and-set guard of every state write (activate, level, controlled, close, resources): a write
    #: names the version it saw and is refused (409) when the event moved on meanwhile (migration 0026).
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: Since when the current level's lower or end condition has held without a break (the live evaluation's
    #: hold time, ``dispatch.emergency_live``); None while none holds.
    calm_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventIncident(Base):
    """An incident belonging to an event (an incident belongs to one event at most); ``level`` and
    ``task_key`` name the plan task it was created for at activation or a level change (None when linked)."""

    __tablename__ = "event_incidents"

    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True, unique=True)
    level: Mapped[str | None] = mapped_column(String(4))
    task_key: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventAlert(Base):
    """An alert belonging to an event."""

    __tablename__ = "event_alerts"

    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventTimeline(Base):
    """One entry of an event's timeline: an action, an alert, a note or a level change; who, when, why."""

    __tablename__ = "event_timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    level_from: Mapped[str | None] = mapped_column(String(4))
    level_to: Mapped[str | None] = mapped_column(String(4))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)


class ResourceAssignment(Base):
    """A resource assigned to an event task until released; a resource has at most one open assignment
    (the partial unique index, on SQLite and PostgreSQL alike)."""

    __tablename__ = "resource_assignments"
    __table_args__ = (
        Index("uq_resource_assignments_open", "resource_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id"), index=True)
    #: The department task (``joint_tasks``, H7) of one of the event's incidents it serves.
    task_id: Mapped[int] = mapped_column(ForeignKey("joint_tasks.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
