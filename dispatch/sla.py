"""Deadlines and red/yellow cards of incidents (DESIGN §6).

A category gives a handling limit and a closing limit in hours. How hours are counted is a
``Calendar``: plain elapsed hours today; a working-hours calendar with holidays can replace it
without changing the callers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

#: A yellow card once less than this fraction of the limit remains.
YELLOW_FRACTION = 0.2

#: Severities of an incident (一般/紧急/特急); a category may set limits per severity.
SEVERITIES: tuple[str, ...] = ("normal", "urgent", "critical")

CARD_NONE = "none"
CARD_YELLOW = "yellow"
CARD_RED = "red"
_CARD_RANK = {CARD_NONE: 0, CARD_YELLOW: 1, CARD_RED: 2}


class Limits(Protocol):
    """Anything with a handling and a closing limit in hours (a ``data.models.Category``)."""

    handle_hours: float
    close_hours: float


class Calendar(Protocol):
    """How limit hours are counted forward from a moment."""

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` countable hours after ``start``."""
        ...


class ElapsedHours:
    """Every hour counts: nights, weekends and holidays included."""

    def add_hours(self, start: datetime, hours: float) -> datetime:
        return start + timedelta(hours=hours)


DEFAULT_CALENDAR: Calendar = ElapsedHours()


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("deadlines need a timezone-aware start time")


def deadlines(
    reported_or_filed_at: datetime, category: Limits, calendar: Calendar = DEFAULT_CALENDAR
) -> tuple[datetime, datetime]:
    """(handle_deadline, close_deadline) of an incident of ``category`` starting at the given time."""
    _require_aware(reported_or_filed_at)
    return (
        calendar.add_hours(reported_or_filed_at, float(category.handle_hours)),
        calendar.add_hours(reported_or_filed_at, float(category.close_hours)),
    )


def extend(deadline: datetime | None, hours: float, calendar: Calendar = DEFAULT_CALENDAR) -> datetime | None:
    """A deadline pushed back by ``hours`` (postponement); None stays None (no limit)."""
    return None if deadline is None else calendar.add_hours(deadline, hours)


def card_for(now: datetime, start: datetime, deadline: datetime | None) -> str:
    """"red" once past ``deadline``; "yellow" when less than 20 % of the limit remains; else "none"."""
    if deadline is None:
        return CARD_NONE
    if now > deadline:
        return CARD_RED
    limit = deadline - start
    if deadline - now < limit * YELLOW_FRACTION:
        return CARD_YELLOW
    return CARD_NONE


def worse(*cards: str) -> str:
    """The most severe of ``cards`` (red > yellow > none)."""
    return max(cards, key=_CARD_RANK.__getitem__, default=CARD_NONE)


def incident_card(
    now: datetime,
    start: datetime,
    handle_deadline: datetime | None,
    close_deadline: datetime | None,
    *,
    resolved: bool,
) -> str:
    """The card of an open incident: the handling deadline counts until it is resolved,
    the closing deadline until it is closed."""
    close_card = card_for(now, start, close_deadline)
    if resolved:
        return close_card
    return worse(card_for(now, start, handle_deadline), close_card)
