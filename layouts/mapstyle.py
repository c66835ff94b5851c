"""The city map's look, shared by the figure builder (callbacks/mapkit.py) and the legend (a view): which
layers the switcher offers, their colours, and how the offline basemap is drawn (the GeoJSON one, or an
imported tile set's style under the data layers). Constants and pure functions."""

from __future__ import annotations

from typing import Any

from layouts.components import CARD_COLOURS, LEVEL_COLOURS

BACKGROUND = "#07131f"

#: The layers of the switcher, in display order (keys for i18n ``layer.<key>`` and for visibility).
LAYERS = ("basemap", "boundaries", "grids", "doorplates", "cameras", "sensors", "key_places", "incidents", "alerts")

DOORPLATE_COLOUR = "#3a6d8f"
CAMERA_COLOURS = {"offline": "#5e6b7a", "online": "#64d2ff"}
#: Sensors by family (lifeline, then environment); a sensor with a firing alert takes its level's colour.
FAMILY_COLOURS = {"gas": "#ff9f0a", "water_supply": "#64d2ff", "drainage": "#5e5ce6", "bridge": "#ac8e68",
                  "manhole": "#98989d", "heating": "#ff375f", "air": "#30d158", "surface_water": "#66d4cf",
                  "outfall": "#bf5af2", "noise": "#d4e157"}
OTHER_FAMILY_COLOUR = "#cfd8dc"
#: Key places by kind, in the order of ``data.layers.KEY_PLACE_KINDS``.
KEY_PLACE_COLOURS = {"risk_source": "#ff6b3d", "key_place": "#c77dff", "key_project": "#e9c46a"}
#: Grid fill from quiet (transparent) to busy.
GRID_SCALE = [[0.0, "rgba(23,41,59,0.0)"], [0.01, "rgba(32,90,140,0.35)"], [0.5, "rgba(255,159,10,0.55)"],
              [1.0, "rgba(255,59,48,0.75)"]]
GRID_LINE = "#1d3a55"
HIGHLIGHT_COLOUR = "rgba(255,255,255,0.45)"

#: The basemap and boundary lines: (basemap kind, MapLibre layer type, style, switcher layer), bottom first.
BASEMAP_STYLES = (
    ("water", "fill", {"color": "#0e3a5c"}, "basemap"),
    ("river", "line", {"color": "#1f6fa8", "line": {"width": 3}}, "basemap"),
    ("street", "line", {"color": "#1f3146", "line": {"width": 0.8}}, "basemap"),
    ("arterial", "line", {"color": "#35506d", "line": {"width": 2}}, "basemap"),
    ("community_border", "line", {"color": "#2b4c6b", "line": {"width": 0.8, "dash": [2, 2]}}, "boundaries"),
    ("street_border", "line", {"color": "#3f6a92", "line": {"width": 1.4}}, "boundaries"),
    ("district_border", "line", {"color": "#5d8fc0", "line": {"width": 2.2}}, "boundaries"),
    ("boundary", "line", {"color": "#7fa7d1", "line": {"width": 2.5}}, "basemap"),
)

#: The drawn basemap kinds an imported basemap (issue 16, ``import basemap``) replaces: over the city's own
#: tiles only the outline and the area borders are drawn.
TILES_REPLACE = ("water", "river", "street", "arterial")


def tiled_style(style: dict[str, Any], background: str = BACKGROUND) -> dict[str, Any]:
    """The MapLibre style of an imported basemap for the city map: its own layers over ``background`` (the
    big screen's colour where the tile set has no tiles), under the data layers."""
    layers = list(style.get("layers", []))
    if not any(layer.get("type") == "background" for layer in layers):
        layers.insert(0, {"id": "cityops-background", "type": "background", "paint": {"background-color": background}})
    return {**style, "layers": layers}


__all__ = ["CARD_COLOURS", "LEVEL_COLOURS"]
