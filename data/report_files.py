"""The reports folder on disk: where briefings are archived, and which files in it are briefings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from settings import get_settings

NAME = re.compile(r"^(daily|weekly)-\d{4}-\d{2}-\d{2}\.(pdf|xlsx)$")


def reports_folder() -> Path:
    """The folder reports are written to (CITYOPS_REPORTS_DIR, default var/reports)."""
    return Path(get_settings().reports_dir)


@dataclass(frozen=True)
class ArchivedReport:
    name: str
    size: int
    modified: datetime


def list_reports(folder: Path | None = None) -> list[ArchivedReport]:
    """The briefing files in the reports folder, newest first."""
    folder = folder or reports_folder()
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.is_file() and NAME.match(p.name)]
    return sorted(
        (ArchivedReport(p.name, p.stat().st_size, datetime.fromtimestamp(p.stat().st_mtime).astimezone())
         for p in files),
        key=lambda r: r.name, reverse=True,
    )


def archived_path(name: str, folder: Path | None = None) -> Path | None:
    """The file of an archived report by its name, or None (names outside the pattern never resolve)."""
    if not NAME.match(name):
        return None
    path = (folder or reports_folder()) / name
    return path if path.is_file() else None
