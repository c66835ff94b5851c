"""The ports of the dispatch package: what it asks of the alerts package without importing it.

``dispatch`` and ``alerts`` are independent of each other (import-linter checks it). The leader's briefing
shows the warning statistics of its period (``alerts.review.warning_stats``); it asks for them through
``warning_stats``, which the composition root (``app.wire``) connects at start — as ``alerts.ports`` lets an
alert ask the dispatch loop for its incident.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

#: (session, start, end, group_by) → the warning statistics of the alerts fired in [start, end).
WarningStats = Callable[[Session, datetime, datetime, str], dict[str, Any]]

_WARNING_STATS: list[WarningStats] = []


def set_warning_stats(source: WarningStats) -> None:
    """Wire where the warning statistics come from (the composition root does, once at start; tests too)."""
    _WARNING_STATS[:] = [source]


def warning_stats(session: Session, start: datetime, end: datetime, group_by: str) -> dict[str, Any]:
    """The warning statistics of [start, end) grouped by ``group_by``; RuntimeError when nobody wired them."""
    if not _WARNING_STATS:
        raise RuntimeError("dispatch.ports: no warning statistics are wired (app.wire() does it at start)")
    return _WARNING_STATS[0](session, start, end, group_by)
