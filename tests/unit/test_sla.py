"""Deadlines from category limits, and red/yellow cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.sla import card_for, deadlines, extend, incident_card, worse

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@dataclass
class _Limits:
    handle_hours: float
    close_hours: float


def test_deadlines_add_the_category_limits_to_the_start():
    assert deadlines(T0, _Limits(2, 4.5)) == (T0 + timedelta(hours=2), T0 + timedelta(hours=4.5))


def test_deadlines_accept_another_calendar():
    class DoubleTime:
        def add_hours(self, start, hours):
            return start + timedelta(hours=2 * hours)

    assert deadlines(T0, _Limits(1, 3), DoubleTime()) == (T0 + timedelta(hours=2), T0 + timedelta(hours=6))


def test_deadlines_refuse_a_naive_start():
    with pytest.raises(ValueError, match="timezone"):
        deadlines(T0.replace(tzinfo=None), _Limits(1, 2))


def test_extend_pushes_a_deadline_back_and_keeps_none():
    assert extend(T0, 24) == T0 + timedelta(hours=24)
    assert extend(None, 24) is None


@pytest.mark.parametrize(
    ("elapsed_minutes", "card"),
    [
        (0, "none"),
        (47, "none"),  # 13 of 60 minutes left: more than 20 %
        (48, "none"),  # exactly 20 % left is not "less than 20 %"
        (49, "yellow"),
        (60, "yellow"),  # at the deadline: not yet past it
        (61, "red"),
        (60 * 24, "red"),
    ],
)
def test_card_turns_yellow_under_20_percent_and_red_past_the_deadline(elapsed_minutes, card):
    assert card_for(T0 + timedelta(minutes=elapsed_minutes), T0, T0 + timedelta(hours=1)) == card


def test_no_deadline_means_no_card():
    assert card_for(T0 + timedelta(days=400), T0, None) == "none"


def test_worse_picks_the_most_severe_card():
    assert worse("none", "red", "yellow") == "red"
    assert worse("none", "yellow") == "yellow"
    assert worse() == "none"


def test_the_handling_deadline_stops_counting_once_resolved():
    handle, close = T0 + timedelta(hours=1), T0 + timedelta(hours=10)
    later = T0 + timedelta(hours=2)
    assert incident_card(later, T0, handle, close, resolved=False) == "red"
    assert incident_card(later, T0, handle, close, resolved=True) == "none"
    assert incident_card(T0 + timedelta(hours=9, minutes=30), T0, handle, close, resolved=True) == "yellow"
