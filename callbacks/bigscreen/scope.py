"""The area the big screen is drilled into (city → district → street → community → grid), as every panel
uses it: the KPI snapshot's scope and the area's unit grids, the pickers' options, the map's bounds. A command
tier's user (issue 17) never leaves their own area (``own_area``: the signed-in reader's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callbacks import mapkit
from data.layers import StaticLayers
from dispatch import tiers
from dispatch.kpi import AREA_SCOPES
from layouts.mapviews import AREA_LEVELS


@dataclass(frozen=True)
class ScreenScope:
    """The area chosen by drill-down as every panel uses it: the KPI snapshot's scope (level → code, as
    ``dispatch.kpi.kpi_snapshot`` takes it) and the area's unit grids (for the lists, cards, AQI stations)."""

    kpi: dict[str, str]
    grid_ids: list[int]


def own_node(layers: StaticLayers, own: str | None) -> Any:
    """The area node of a command tier's area code ``own`` (None: the city centre, or no such area)."""
    return next((a for a in layers.areas if a.code == own), None) if own else None


def screen_scope(layers: StaticLayers, scope: Mapping[str, Any] | None, own: str | None = None) -> ScreenScope | None:
    """The drill-down Store's ``{"level", "id"}`` resolved against the areas and grids; None for the whole
    city, and for a scope naming no known area (the Store comes from the browser). A command tier's user
    (``own``: their area code) never leaves their area: a scope outside it, or none, is their area."""
    chosen = _chosen_scope(layers, scope)
    node = own_node(layers, own)
    if node is None:
        return chosen
    floor = ScreenScope({node.level: node.code}, layers.grids.ids[layers.grid_positions_in(node.id)].tolist())
    return chosen if chosen is not None and set(chosen.grid_ids) <= set(floor.grid_ids) else floor


def own_area() -> str | None:
    """The area of the signed-in user's command tier (None: the city centre, or no signed-in user)."""
    return tiers.area_of(mapkit.reader())


def _chosen_scope(layers: StaticLayers, scope: Mapping[str, Any] | None) -> ScreenScope | None:
    if not scope:
        return None
    try:
        level, ident = str(scope["level"]), int(scope["id"])
    except (KeyError, TypeError, ValueError):
        return None
    if level == "grid":
        position = layers.grids.ids.tolist().index(ident) if ident in layers.grids.ids else None
        return None if position is None else ScreenScope({"grid": layers.grids.codes[position]}, [ident])
    area = layers.area(ident)
    if area is None or area.level != level or level not in AREA_SCOPES:
        return None
    return ScreenScope({level: area.code}, layers.grids.ids[layers.grid_positions_in(ident)].tolist())


def scope_grid_ids(layers: StaticLayers, scope: Mapping[str, Any] | None) -> list[int] | None:
    """The unit grids of the chosen area, None for the whole city."""
    resolved = screen_scope(layers, scope, own_area())
    return None if resolved is None else resolved.grid_ids



def _options(nodes: list[Any]) -> list[dict[str, Any]]:
    return [{"label": n.name, "value": n.id} for n in sorted(nodes, key=lambda n: n.code)]


def _grid_options(layers: StaticLayers, community: int) -> list[dict[str, Any]]:
    positions = [i for i, c in enumerate(layers.grids.community_ids.tolist()) if c == community]
    return [{"label": f"{layers.grids.codes[i]} {layers.grids.names[i]}", "value": int(layers.grids.ids[i])}
            for i in positions]


def drill_state(layers: StaticLayers, chosen: dict[str, int | None], trigger: str | None) -> dict[str, Any]:
    """Options, values and scope of the four area pickers after ``trigger`` (a level) changed."""
    order = [level for _, level in AREA_LEVELS]
    if trigger in order:  # choosing a level clears the levels below it
        for level in order[order.index(trigger) + 1:]:
            chosen[level] = None
    city = next((a for a in layers.areas if a.level == "city"), None)
    options = {"district": _options(layers.children(city.id if city else None, "district")),
               "street": [], "community": [], "grid": []}
    if chosen["district"]:
        options["street"] = _options(layers.children(chosen["district"], "street"))
    if chosen["street"]:
        options["community"] = _options(layers.children(chosen["street"], "community"))
    if chosen["community"]:
        options["grid"] = _grid_options(layers, int(chosen["community"]))
    deepest = next((level for level in reversed(order) if chosen[level]), None)
    scope = None
    if deepest is not None:
        district = layers.area(int(chosen["district"])) if chosen["district"] else None
        scope = {"level": deepest, "id": int(chosen[deepest]), "district": district.code if district else None}
    return {"options": options, "values": chosen, "scope": scope}


def keep_to_area(layers: StaticLayers, state: dict[str, Any], own: Any) -> dict[str, Any]:
    """``drill_state``'s answer held inside a command tier's area ``own`` (an area node): the pickers at and
    above its level offer only its own areas, and a scope outside it (or none) becomes the area itself."""
    node, district = own, None
    while node is not None:
        if node.level in tiers.SCOPE_LEVELS:
            state["options"][node.level] = _options([node])
        district = node if node.level == "district" else district
        node = layers.area(node.parent_id) if node.parent_id is not None else None
    resolved = screen_scope(layers, state["scope"], own.code)
    if resolved is None or resolved.kpi == {own.level: own.code}:
        state["scope"] = {"level": own.level, "id": own.id, "district": district.code if district else None}
    return state


def scope_bounds(layers: StaticLayers, scope: dict[str, Any] | None) -> tuple[float, float, float, float]:
    """The bounds (west, south, east, north) of the scope Store's area; the city's for none."""
    if not scope:
        return layers.bounds
    if scope["level"] == "grid":
        position = layers.grids.ids.tolist().index(int(scope["id"]))
        return tuple(layers.grids.bounds[position].tolist())
    area = layers.area(int(scope["id"]))
    return area.bounds if area else layers.bounds
