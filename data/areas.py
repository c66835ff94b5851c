"""The administrative hierarchy as SQL: the unit grids anywhere under an area (city, district,
street/town, community), for scoping KPIs, alert lists and maps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from data.models import Area, Grid


def grids_under(area_id: int) -> Select[Any]:
    """A SELECT of the ids of the grids anywhere under the area ``area_id`` (a recursive CTE)."""
    tree = select(Area.id).where(Area.id == area_id).cte("area_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(Grid.id).where(Grid.community_id.in_(select(tree.c.id)))
