"""The enumerations of the domain: incident states, actions and sources, alert levels and states, roles.

They are ``StrEnum``s, so a member compares equal to its stored string (``IncidentState.FILED == "filed"``).
``data.models`` re-exports the ones it stores, so ``from data.models import IncidentState`` keeps working.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    LEADER = "leader"
    HANDLER = "handler"
    WORKER = "worker"


class AreaLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class IncidentState(enum.StrEnum):
    REPORTED = "reported"
    FILED = "filed"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(enum.StrEnum):
    """What a user does to an incident (DESIGN §6)."""

    FILE = "file"
    REJECT = "reject"
    DISPATCH = "dispatch"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    RETURN = "return"
    ESCALATE = "escalate"
    POSTPONE = "postpone"
    MERGE = "merge"
    COMMENT = "comment"
    #: Command tiers (issue 17): hand the incident to a district or street centre (下派), or back to the
    #: tier above (上报). The state stays; ``incidents.tier_area_code`` changes.
    PASS_DOWN = "pass_down"  # noqa: S105  (an action name, not a password)
    REPORT_UP = "report_up"


class Source(enum.StrEnum):
    """Where incidents come from (DESIGN §7 ``by_source``)."""

    ALERT = "alert"
    PATROL = "patrol"
    HOTLINE = "hotline"
    OPEN311 = "open311"
    VIDEO = "video"
    OPERATOR = "operator"
    CITIZEN = "citizen"


class AlertLevel(enum.StrEnum):
    """Warning levels, declared from the least to the most severe (``domain.states.ALERT_LEVELS``)."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class AlertState(enum.StrEnum):
    """An alert episode: pending → firing → resolved."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
