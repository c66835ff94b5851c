"""The big screen's selection: a click on the map, a search and its hits choose an object, the map flies to
it and the detail card shows it — in the reader's scope (an incident only when ``/api/v1/incidents`` would
show it), personal data masked except for admins. The card is ``layouts.bigscreen_detail``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dash import ALL, Input, Output, Patch, State, callback, ctx, html, no_update

from callbacks import mapkit
from callbacks.common import uow
from callbacks.pagekit import clicked_id, local_time, signed_in
from data.layers import static_layers
from data.map_details import Detail, detail, search
from data.models import Role
from dispatch.service import NotFound, get_incident
from i18n import t
from layouts import ids
from layouts.bigscreen_detail import detail_card
from layouts.mapviews import search_results


def _fly_to_detail(found: Detail) -> Patch:
    bounds = found.extra.get("bounds")
    zoom = mapkit.fit_zoom(bounds) if bounds else mapkit.POINT_ZOOM
    return mapkit.fly_to(Patch(), lon=found.lon, lat=found.lat, zoom=zoom, token=f"{found.kind}-{time.time_ns()}")



@callback(
    Output(ids.BIGSCREEN_SELECTED, "data"),
    Output(ids.BIGSCREEN_SEARCH_RESULTS, "children"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_MAP, "clickData"),
    Input(ids.BIGSCREEN_SEARCH, "n_submit"),
    Input(ids.BIGSCREEN_SEARCH_GO, "n_clicks"),
    Input({"type": ids.BIGSCREEN_SEARCH_HIT, "kind": ALL, "key": ALL}, "n_clicks"),
    State(ids.BIGSCREEN_SEARCH, "value"),
    prevent_initial_call=True,
)
def select(click: dict[str, Any] | None, _submit: int | None, _go: int | None, _hits: list[int | None],
           query: str | None) -> tuple[Any, Any, Any]:
    """What to show: the clicked map object, the first search hit, or a chosen hit — and fly there."""
    trigger = ctx.triggered_id
    with uow() as session:
        if trigger == ids.BIGSCREEN_MAP:
            points = (click or {}).get("points") or []
            target = mapkit.click_target(static_layers(session), points[0]) if points else None
            if target is None:
                return no_update, no_update, no_update
            point = points[0]
            if target[0] == "cell":  # a cell of the dense layers: zoom in until its points show
                if not isinstance(point.get("lon"), int | float) or not isinstance(point.get("lat"), int | float):
                    return no_update, no_update, no_update
                return no_update, no_update, mapkit.fly_to(
                    Patch(), lon=point["lon"], lat=point["lat"], zoom=mapkit.CLUSTER_MAXZOOM + 0.5,
                    token=f"cell-{time.time_ns()}", highlight=False)
            patch = Patch()
            if "lon" in point and "lat" in point:
                patch["data"][mapkit.HIGHLIGHT]["lon"] = [point["lon"]]
                patch["data"][mapkit.HIGHLIGHT]["lat"] = [point["lat"]]
            return {"kind": target[0], "id": target[1]}, no_update, patch
        if isinstance(trigger, dict):  # a search hit
            if clicked_id() is None:
                return no_update, no_update, no_update
            kind, key = trigger["kind"], trigger["key"]
            found = visible_detail(session, kind, key)
            if found is None:
                return no_update, no_update, no_update
            return {"kind": kind, "id": found.id}, no_update, _fly_to_detail(found)
        hits = search(session, query or "")
        results = search_results([(h.kind, h.id, h.label) for h in hits])
        if not hits:
            return no_update, results, no_update
        first = visible_detail(session, hits[0].kind, hits[0].id)
    if first is None:
        return no_update, results, no_update
    return {"kind": first.kind, "id": first.id}, results, _fly_to_detail(first)


def _may_see_personal_data() -> bool:
    user = signed_in()
    return getattr(user, "role", None) == Role.ADMIN


def visible_detail(session: Any, kind: Any, ident: Any, *, show_personal: bool = False) -> Detail | None:
    """The detail of a map object as the signed-in user may see it: an incident only when
    ``/api/v1/incidents`` would show it to them (``dispatch.service.get_incident``: a handler their
    department's, a worker their grid's or their own), else None — as if it did not exist."""
    if kind == "incident":
        try:
            get_incident(session, int(ident), user=signed_in())
        except (NotFound, TypeError, ValueError):
            return None
    return detail(session, str(kind), ident, show_personal=show_personal)


def _local(value: Any) -> Any:
    return local_time(value) if isinstance(value, datetime) else value


def render_detail(found: Detail) -> html.Div:
    """The detail card of ``found`` with the extras of its kind, its times in the display time zone."""
    extra = dict(found.extra)
    if found.kind == "sensor":
        times, values = extra["series"]
        extra["series"] = ([local_time(x, "%Y-%m-%d %H:%M") for x in times], values)
        extra["alerts"] = [(level, rule, value, local_time(at, "%H:%M"))
                           for _, level, rule, _, value, at in extra["alerts"]]
    return detail_card(found.kind, found.id, found.title, [(key, _local(value)) for key, value in found.fields], extra)



@callback(
    Output(ids.BIGSCREEN_DETAIL, "children"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
    prevent_initial_call=True,
)
def show_detail(selected: dict[str, Any] | None) -> Any:
    """The detail of the selected object, in the user's scope; personal data is masked except for admins."""
    if not selected or not isinstance(selected, dict):
        return no_update
    with uow() as session:
        found = visible_detail(session, selected.get("kind"), selected.get("id"),
                               show_personal=_may_see_personal_data())
    if found is None:
        return html.Div(t("map.gone"), className="empty")
    return render_detail(found)
