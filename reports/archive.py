"""Writing briefings to the reports folder: the `report` CLI command and the 08:00 job."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from data.db import Database
from data.files import write_private
from data.models import utcnow
from data.report_files import reports_folder
from dispatch.briefing import build_briefing, period_of
from reports.render import FORMATS, render
from settings import get_settings

REPORT_KINDS = {"daily": "day", "weekly": "week"}


def default_day(kind: str, now: datetime | None = None) -> date:
    """Yesterday for a daily report; a day of last week for a weekly one (complete periods)."""
    today = (now or utcnow()).astimezone(get_settings().zone).date()
    return today - timedelta(days=1 if kind == "daily" else 7)


def report_bytes(db: Database, kind: str, day: date, fmt: str, *, lang: str | None = None,
                 now: datetime | None = None) -> bytes:
    """The ``kind`` briefing ("daily"/"weekly") of the period containing ``day`` in ``fmt``."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report {kind!r}; choose daily or weekly")
    period, previous = period_of(REPORT_KINDS[kind], day)
    with db.uow() as session:
        briefing = build_briefing(session, period, previous, now or utcnow())
    return render(briefing, fmt, lang)


def write_report(db: Database, kind: str, day: date, fmt: str, *, out: Path | None = None,
                 lang: str | None = None, now: datetime | None = None) -> Path:
    """Write a briefing file (atomically: a reader never sees half a file) and return its path."""
    data = report_bytes(db, kind, day, fmt, lang=lang, now=now)
    target = out or reports_folder() / f"{kind}-{day.isoformat()}.{fmt}"
    return write_private(target, data)  # briefings name people and places: 0600 in 0700 folders


def write_daily_reports(db: Database, now: datetime | None = None) -> list[Path]:
    """The 08:00 job: yesterday's daily briefing as PDF and XLSX (Mondays also last week's bulletin)."""
    now = now or utcnow()
    written = [write_report(db, "daily", default_day("daily", now), fmt, now=now) for fmt in FORMATS]
    if now.astimezone(get_settings().zone).weekday() == 0:
        written += [write_report(db, "weekly", default_day("weekly", now), fmt, now=now) for fmt in FORMATS]
    return written
