"""Joint handling (issue 17 §2, 主办/协办): one task per department named on an incident.

A dispatch names one lead department and any number of assisting ones; each gets a ``JointTask`` with
its own handling deadline, card and progress (``dispatch/joint.py`` applies the rules). An incident
without tasks is handled by its one department, as before.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from data.models import Base, Department, Incident, UTCDateTime, utcnow

#: The roles of a task: the lead department (主办) and an assisting one (协办).
ROLE_LEAD = "lead"
ROLE_ASSIST = "assist"
TASK_ROLES = (ROLE_LEAD, ROLE_ASSIST)

#: The states of a task; ``returned`` is an operator's return of a resolved task (worked again like open).
TASK_OPEN = "open"
TASK_IN_PROGRESS = "in_progress"
TASK_RESOLVED = "resolved"
TASK_RETURNED = "returned"
TASK_STATES = (TASK_OPEN, TASK_IN_PROGRESS, TASK_RESOLVED, TASK_RETURNED)


class JointTask(Base):
    """One department's task on one incident (0023): lead or assist, its deadline, card and progress."""

    __tablename__ = "joint_tasks"
    __table_args__ = (UniqueConstraint("incident_id", "department_id", name="uq_joint_tasks_incident_department"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=TASK_OPEN)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handle_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card: Mapped[str] = mapped_column(String(8), default="none")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined")
    #: ``Incident.joint_tasks``, lead first ("lead" > "assist"); read only: ``dispatch/joint.py`` writes tasks.
    incident: Mapped[Incident] = relationship(
        backref=backref("joint_tasks", viewonly=True, order_by="[JointTask.role.desc(), JointTask.id]"))

    @property
    def department_code(self) -> str:
        """The code of the task's department (e.g. ``gas``)."""
        return self.department.code
