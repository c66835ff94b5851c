"""How a big-screen KPI tile shows its figures: the value as text (rates in %, undefined as '—'), its target
state, the change against the previous period ("▲ 2.1 pt", "▼ 3") with its tone, and the coloured chips of
its parts (alert levels, sources). Pure functions of a tile's data (``dispatch.screen_tiles.Tile`` or
anything with the same fields); the tiles themselves are ``layouts.bigscreen.wall_tile``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from i18n import t
from layouts.bigscreen import chip
from layouts.components import LEVEL_COLOURS

SOURCE_COLOUR = "#3fb8ff"


def format_kpi(key: str, value: Any) -> str:
    """A KPI value as a tile shows it: rates in %, undefined as '—', hours to one decimal."""
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def change_text(key: str, delta: float | None, trend: str) -> str:
    """The change as the tile shows it: rates in percentage points ("▲ 2.1 pt"), counts as numbers ("▼ 3"),
    "flat" when nothing changed, nothing without a change."""
    if delta is None or trend == "none":
        return ""
    if trend == "flat":
        return t("screen.change.flat")
    amount = f"{abs(delta):.1f} {t('screen.unit.pt')}" if key.endswith("_rate") else f"{abs(delta):g}"
    return f"{'▲' if delta > 0 else '▼'} {amount}"


@dataclass(frozen=True)
class TileView:
    """What the browser holds of a tile's live part: each is one property of one pattern-matching id
    (``layouts.ids.BIGSCREEN_KPI_VALUE`` / ``_CHANGE`` / ``_PARTS``)."""

    value: str
    value_class: str
    change: str
    change_class: str
    #: The chips under the value as (label, colour, count); empty for a tile without parts.
    parts: tuple[tuple[str, str, int], ...]


def tile_view(tile: Any) -> TileView:
    """The texts and classes of ``tile``'s value and change, and its parts' chips."""
    if tile.key == "alerts_firing":
        parts = tuple((t(f"level.{name}"), LEVEL_COLOURS[name], n) for name, n in tile.parts)
    else:
        parts = tuple((t(f"source.{name}"), SOURCE_COLOUR, n) for name, n in tile.parts)
    return TileView(format_kpi(tile.key, tile.value), f"kpi-value kpi-{tile.state}",
                    change_text(tile.key, tile.delta, tile.trend),
                    f"kpi-change trend-{tile.trend} tone-{tile.tone}", parts)


def chips(view: TileView) -> list[Any]:
    """The chips of a tile's parts."""
    return [chip(label, colour, n) for label, colour, n in view.parts]
