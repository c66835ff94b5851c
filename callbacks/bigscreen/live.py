"""The big screen's 5-s live refresh, scoped to the area drilled into: the KPI tiles (each part written
through its pattern-matching id), the alert ticker and the incident list, the 12345 hotline panel (issue 20),
and the map's live colours — each only when it changed since what the browser holds. The map's incidents and
alerts themselves go through ``callbacks/maplive.py`` as deltas."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dash import ALL, Input, Output, State, callback, no_update

from callbacks import mapkit
from callbacks.bigscreen.changes import digest_of, if_changed
from callbacks.bigscreen.periods import tile_periods
from callbacks.bigscreen.scope import own_area, screen_scope
from callbacks.common import read_uow, replica_notice
from callbacks.pagekit import local_time
from data.effective_settings import effective_settings
from data.layers import live_incidents, static_layers
from data.models import utcnow
from dispatch import screen
from dispatch.hotline import screen_hotline
from dispatch.screen_tiles import build_tile, tile_figures
from i18n import t
from layouts import ids
from layouts.bigscreen_panels import HOTLINE_PANEL_KEYS, alert_items, hotline_cells, incident_items
from layouts.bigscreen_tiles import chips, format_kpi, tile_view

#: How many lines the alert ticker and the incident list show.
TICKER_SIZE = 20
LIST_SIZE = 20


def _tile_outputs(tile_ids: list[dict[str, str]], part_ids: list[dict[str, str]], current: dict[str, Any],
                  previous: dict[str, Any], digests: dict[str, str],
                  targets: dict[str, tuple[float, float]]) -> tuple[list[Any], ...]:
    """Per tile property (value, its class, change, its class, parts), the new value of each tile whose view
    changed since the browser's copy, ``no_update`` for the others; ``targets`` are the KPI targets in force."""
    values, value_classes, changes, change_classes = [], [], [], []
    views = {}
    for tile_id in tile_ids:
        key = tile_id["key"]
        view = tile_view(build_tile(key, current, previous, targets))
        digest = digest_of(asdict(view))
        changed = digests.get(f"tile.{key}") != digest
        digests[f"tile.{key}"] = digest
        views[key] = view if changed else None
        for column, value in ((values, view.value), (value_classes, view.value_class), (changes, view.change),
                              (change_classes, view.change_class)):
            column.append(value if changed else no_update)
    parts = [chips(views[p["key"]]) if views.get(p["key"]) is not None else no_update for p in part_ids]
    return values, value_classes, changes, change_classes, parts


@callback(
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Output({"type": ids.BIGSCREEN_KPI_VALUE, "key": ALL}, "children"),
    Output({"type": ids.BIGSCREEN_KPI_VALUE, "key": ALL}, "className"),
    Output({"type": ids.BIGSCREEN_KPI_CHANGE, "key": ALL}, "children"),
    Output({"type": ids.BIGSCREEN_KPI_CHANGE, "key": ALL}, "className"),
    Output({"type": ids.BIGSCREEN_KPI_PARTS, "key": ALL}, "children"),
    Output(ids.BIGSCREEN_ALERT_LIST, "children"),
    Output(ids.BIGSCREEN_INCIDENT_LIST, "children"),
    Output(ids.BIGSCREEN_UPDATED, "children"),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data", allow_duplicate=True),
    Output(ids.BIGSCREEN_HOTLINE, "children"),  # issue 20: last, so the outputs before keep their places
    Input(ids.BIGSCREEN_TICK, "n_intervals"),
    State(ids.BIGSCREEN_MAP_VERSION, "data"),
    State({"type": ids.BIGSCREEN_KPI_VALUE, "key": ALL}, "id"),
    State({"type": ids.BIGSCREEN_KPI_PARTS, "key": ALL}, "id"),
    State(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    State(ids.BIGSCREEN_SCOPE, "data"),
    State(ids.BIGSCREEN_GRID_METRIC, "value"),
    prevent_initial_call="initial_duplicate",
)
def refresh(_n: int | None, map_version: list[int] | None, tile_ids: list[dict[str, str]],
            part_ids: list[dict[str, str]], digest: dict[str, str] | None = None,
            scope: dict[str, Any] | None = None, metric: str | None = None) -> tuple[Any, ...]:
    """Live refresh, scoped to the chosen area: a Patch of the live map parts that changed, each KPI tile's
    value, change and parts when they changed, the lists when they changed (``no_update`` for the rest), the
    time."""
    now = utcnow()
    with read_uow() as session:
        layers = static_layers(session)
        area = screen_scope(layers, scope, own_area())
        grid_ids = area.grid_ids if area else None
        alerts = screen.ticker_alerts(session, limit=TICKER_SIZE, grid_ids=grid_ids)
        # the list names incidents: only those the user may see, as on the map and in /api/v1/incidents
        incidents = live_incidents(session, limit=LIST_SIZE, grid_ids=grid_ids,
                                   visible=mapkit.reader_visible(mapkit.reader()))
        periods = tile_periods(now)
        current, previous = tile_figures(session, now, periods, area=area.kpi if area else None,
                                         grid_ids=grid_ids)
        # the hotline panel (issue 20): the tiles' own snapshot, out-of-hours once a minute
        hotline = screen_hotline(session, current, periods.start, periods.end, now, grid_ids=grid_ids)
        live = mapkit.live_map(session, layers, metric or "open") if map_version is not None else None
        targets = effective_settings(session).kpi_targets  # /admin/settings over CITYOPS_KPI_TARGETS
    held = dict(digest or {})
    digests = dict(held)
    figure: Any = no_update
    if live is not None:
        parts = live.digests()
        changed = [part for part in mapkit.LIVE_PARTS if held.get(part) != parts[part]]
        if changed:
            figure = mapkit.live_patch(live, changed)
            digests.update(parts)
    tiles = _tile_outputs(tile_ids, part_ids, current, previous, digests, targets)
    ticker = [{**asdict(a), "when": local_time(a.at, "%H:%M:%S")} for a in alerts]
    alert_list = if_changed(digests, "list.alerts", ticker, lambda: alert_items(ticker))
    shown = [(i.card, i.code, i.title, i.state, local_time(i.reported_at, "%H:%M")) for i in incidents[:LIST_SIZE]]
    incident_list = if_changed(digests, "list.incidents", [[i.id for i in incidents], shown],
                               lambda: incident_items(shown))
    updated: Any = t("common.updated", time=local_time(now, "%H:%M:%S"))
    notice = replica_notice()  # reads from a replica more than 10 s behind
    if notice is not None:
        updated = [updated, " · ", notice]
    shown_hotline = {key: format_kpi(key, hotline.get(key)) for key in HOTLINE_PANEL_KEYS}
    hotline_panel = if_changed(digests, "hotline", shown_hotline, lambda: hotline_cells(shown_hotline))
    return (figure, *tiles, alert_list, incident_list, updated, digests if digests != held else no_update,
            hotline_panel)
