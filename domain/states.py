"""Named sets of states and the one order of alert levels; each name has one meaning.

- ``OPEN_STATES``: filed and not yet closed (the KPI "open" cohort; ``reported`` is not a case yet).
- ``UNFINISHED_STATES``: not terminal, i.e. ``reported`` plus the open states (what the maps show).
- ``TERMINAL_STATES``: the incident is over (rejected or closed).
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.enums import AlertLevel, AlertState, IncidentState, Source

S = IncidentState

#: Filed and not yet closed.
OPEN_STATES: frozenset[str] = frozenset({S.FILED, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED})
#: Before resolution: the states in which a postponement still makes sense.
BEFORE_RESOLUTION_STATES: tuple[str, ...] = (S.FILED, S.DISPATCHED, S.IN_PROGRESS)
#: Over: no action but a comment applies.
TERMINAL_STATES: frozenset[str] = frozenset({S.REJECTED, S.CLOSED})
#: Not over: ``reported`` (waiting for intake) plus the open states.
UNFINISHED_STATES: frozenset[str] = frozenset({S.REPORTED, *OPEN_STATES})

#: Where incidents come from, in the order forms and reports list them.
SOURCES: tuple[str, ...] = tuple(source.value for source in Source)

#: Alert levels from the least to the most severe; the one spelling of the order.
ALERT_LEVELS: tuple[str, ...] = tuple(level.value for level in AlertLevel)
#: The same, most severe first (lists, legends, counters).
ALERT_LEVELS_DESC: tuple[str, ...] = tuple(reversed(ALERT_LEVELS))
#: Level → rank (0 = blue … 3 = red).
ALERT_LEVEL_RANK: Mapping[str, int] = {level: rank for rank, level in enumerate(ALERT_LEVELS)}
#: Levels that escalate a notification (and page the duty chain).
ESCALATING_LEVELS: tuple[str, ...] = (AlertLevel.RED, AlertLevel.ORANGE)
#: Alerts not yet resolved.
OPEN_ALERT_STATES: tuple[str, ...] = (AlertState.PENDING, AlertState.FIRING)
