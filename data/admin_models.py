"""The administrator's overrides of settings (issue 16): KPI targets, grade weights and thresholds stored in
the ``settings`` table; the CITYOPS_* environment variables stay the first-start defaults
(``data.effective_settings`` merges the two)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from data.models import Base, UTCDateTime, utcnow


class SettingOverride(Base):
    """One setting changed in /admin: its key (``kpi_targets``, ``grade_weights``, ``grade_thresholds``), its
    value as JSON, and who changed it when."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
