"""Settings in /admin (issue 16): change or reset the KPI targets, grade weights and grade thresholds
(stored as overrides of the CITYOPS_* defaults; ``data.effective_settings`` reads what is in force) and the
working week and holidays the working-hours limits are counted in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from admin.audit import Actor, audit, check
from data.admin_models import SettingOverride
from data.effective_settings import SETTING_KEYS, EffectiveSettings, check_setting, effective_settings
from data.models import utcnow
from dispatch.working_hours import CalendarError, parse_days, parse_week, save_days, save_week
from domain.errors import Invalid
from domain.permissions import Permission


def _stored(value: Any) -> Any:
    """A checked value as JSON (pairs as lists)."""
    if isinstance(value, dict):
        return {key: _stored(item) for key, item in value.items()}
    return list(value) if isinstance(value, tuple) else value


def change_setting(session: Session, actor: Actor | None, key: str, value: Any) -> EffectiveSettings:
    """Store ``value`` for the setting ``key`` (checked as the environment variable is); the settings now in
    force. ``domain.errors.Invalid`` says what is wrong and nothing is stored."""
    check(actor, Permission.SETTING_WRITE)
    try:
        checked = check_setting(key, value)
    except ValueError as exc:
        raise Invalid("invalid_setting", "admin_settings.invalid", message=f"{key}: {exc}", reason=str(exc)) from None
    before = getattr(effective_settings(session), key)
    row = session.get(SettingOverride, key)
    if row is None:
        row = SettingOverride(key=key)
        session.add(row)
    row.value, row.updated_at, row.updated_by = _stored(checked), utcnow(), getattr(actor, "id", None)
    session.flush()
    now = effective_settings(session)
    audit(session, actor, "setting.change", f"setting:{key}",
          {"before": _stored(before), "after": _stored(getattr(now, key))})
    return now


def reset_setting(session: Session, actor: Actor | None, key: str) -> EffectiveSettings:
    """Forget the override of ``key``: its environment default is in force again."""
    check(actor, Permission.SETTING_WRITE)
    if key not in SETTING_KEYS:
        raise Invalid("invalid_setting", "admin_settings.invalid", message=f"unknown setting {key!r}",
                      reason=f"unknown setting {key!r}")
    row = session.get(SettingOverride, key)
    if row is not None:
        session.delete(row)
        session.flush()
        audit(session, actor, "setting.reset", f"setting:{key}", {"was": row.value})
    return effective_settings(session)


def save_calendar(session: Session, actor: Actor | None, week: str, holidays: str) -> int:
    """Replace the working week (lines ``1-5 08:30-12:00 13:30-17:30``) and the exceptional days (lines
    ``2026-10-01 国庆节`` or ``2026-10-10 + 调休``), both checked before either is saved; the number of days."""
    check(actor, Permission.SETTING_WRITE)
    try:
        periods, days = parse_week(week or ""), parse_days(holidays or "")
    except CalendarError as exc:
        raise Invalid(exc.code, "admin_settings.calendar_invalid", message=exc.message, reason=exc.message) from None
    save_week(session, periods)
    save_days(session, days)
    audit(session, actor, "calendar.change", "calendar",
          {"weekdays": sorted(d + 1 for d in periods), "days": len(days)})
    return len(days)
