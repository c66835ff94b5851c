"""Command tiers (issue 17, DESIGN §3 ``users add --area``): an operator or leader scoped to a district or a
street sees and acts on that area only, and an incident is handled at a tier — the city centre (NULL) or the
district/street centre it was passed down (下派) to — until it is reported up (上报).

The area of an actor as grid ids is read once per unit of work (cached in ``Session.info``); the SQL form of
the same set is ``data.areas.grids_under`` (what ``dispatch.service.visible_to`` filters by).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.areas import (
    SCOPE_LEVELS,
    TIER_ROLES,
    actor_grid_ids,
    area_grid_ids,
    area_of,
    grids_of_area,
    grids_under,
)
from data.models import Area, Grid

#: The area of an actor is a data question (``data.areas``); these names are re-exported from here.
__all__ = ["CITY", "SCOPE_LEVELS", "TIER_ROLES", "TierError", "actor_grid_ids", "ancestry", "area_grid_ids", "area_of",
           "grids_of_area", "grids_under", "kpi_area", "pass_down_choices", "pass_down_target", "report_up_target"]

#: How the KPI ``tier`` scope names the city centre (``incident_to_dict`` gives it as null).
CITY = "city"


class TierError(ValueError):
    """A pass-down or report-up that cannot be made; ``code`` is machine-readable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _area(session: Session, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise TierError("unknown_area", f"no area {code!r}")
    return area


def _chain(session: Session, code: str) -> list[Area]:
    """The area ``code`` and every area above it, the area first."""
    chain: list[Area] = []
    area: Area | None = _area(session, code)
    while area is not None and area not in chain:
        chain.append(area)
        area = session.get(Area, area.parent_id) if area.parent_id is not None else None
    return chain


def ancestry(session: Session, code: str) -> list[str]:
    """The codes of the area ``code`` and of every area above it, the area first."""
    return [area.code for area in _chain(session, code)]


def pass_down_target(session: Session, *, actor: Any, current: str | None, target: str | None,
                     grid_id: int | None) -> str:
    """``target`` when an incident handled at tier ``current`` (None: the city) in grid ``grid_id`` may be
    passed down by ``actor`` to the district or street centre ``target``; TierError saying why not."""
    if not target:
        raise TierError("area_required", "pass_down needs area, the district or street to pass the incident to")
    area = _area(session, target)
    if area.level not in SCOPE_LEVELS:
        raise TierError("invalid_area", f"area {target} is a {area.level}: a tier is a district or a street")
    above = ancestry(session, target)
    own = area_of(actor)
    if own is not None and own not in above:
        raise TierError("area_out_of_scope", f"area {target} is outside your area {own}")
    if target == current or (current is not None and current not in above):
        raise TierError("not_below_tier", f"area {target} is not below the incident's tier {current or CITY}")
    if grid_id is None or grid_id not in area_grid_ids(session, target):
        raise TierError("area_not_containing", f"the incident does not lie in area {target}")
    return target


def report_up_target(session: Session, current: str | None) -> str | None:
    """The tier above ``current``: the nearest district or street above it, None (the city) for a district;
    TierError when the incident is already at the city centre."""
    if current is None:
        raise TierError("already_city", "the incident is already handled by the city centre")
    for area in _chain(session, current)[1:]:
        if area.level in SCOPE_LEVELS:
            return area.code
    return None


def kpi_area(session: Session, actor: Any) -> dict[str, str]:
    """The KPI scope that keeps ``actor`` to their area (``{"district": code}`` or ``{"street": code}``);
    empty for the city centre."""
    code = area_of(actor)
    if code is None:
        return {}
    level = session.scalar(select(Area.level).where(Area.code == code))
    return {str(level): code} if level in SCOPE_LEVELS else {}


def pass_down_choices(session: Session, actor: Any, *, current: str | None, grid_id: int | None) -> list[Area]:
    """The district and street centres ``actor`` may pass an incident (at tier ``current``, in grid
    ``grid_id``) down to, the widest first: the areas above its grid that ``pass_down_target`` accepts."""
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    community = session.get(Area, grid.community_id) if grid is not None else None
    if community is None:
        return []
    choices = []
    for area in reversed(_chain(session, community.code)):
        if area.level not in SCOPE_LEVELS:
            continue
        try:
            pass_down_target(session, actor=actor, current=current, target=area.code, grid_id=grid_id)
        except TierError:
            continue
        choices.append(area)
    return choices
