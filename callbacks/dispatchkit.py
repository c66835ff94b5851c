"""What the console, worker and hotline callbacks share beyond ``pagekit``: running one piece of
dispatch work in its own unit of work and turning its refusals into a translated ``Outcome``, and a
small offline map (plotly Scattermap, no remote style, circle markers only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import shapely
from dash import no_update
from sqlalchemy.orm import Session

from callbacks.common import uow
from callbacks.pagekit import Outcome, outcome_view, refusal_message, signed_in
from dispatch.service import ServiceError, StaleVersion, apply_action, get_incident
from dispatch.workflow import ActionNotAllowed
from geo.layers import features_to_geojson, offline_style
from i18n import t

MAP_BACKGROUND = "#0b1826"
MAP_WIDTH_PX = 360


def run_work(work: Callable[[Session, Any], str], done: Callable[[str], str]) -> Outcome:
    """Run ``work(session, user)`` (it returns an incident code) in one unit of work by the signed-in
    user; a refusal changes nothing and becomes a translated message."""
    try:
        with uow() as session:
            code = work(session, signed_in())
    except StaleVersion:
        return Outcome(False, t("error.stale_version"), stale=True)
    except (ServiceError, ActionNotAllowed) as exc:
        return Outcome(False, refusal_message(exc.code))
    return Outcome(True, done(code))


def act_on_shown(incident: dict[str, int], action: str, note: str | None, result: int | None,
                 done: Callable[[str], str], **extra: Any) -> tuple[Any, Any, Any]:
    """Take ``action`` on the incident the console shows (``incident``: its id and the version shown) with the
    note typed, as the signed-in user; returns the console's (message, reload counter, note field): the page
    reloads after success or a stale version, and the note is cleared after success."""

    def work(session: Session, user: Any) -> str:
        get_incident(session, incident["id"], user=user)  # "not found" for what the user may not see
        return apply_action(session, incident["id"], action, version=incident["version"], actor=user,
                            note=(note or "").strip() or None, **extra).code

    outcome = run_work(work, done)
    reload = (result or 0) + 1
    return (outcome_view(outcome), reload if outcome.ok or outcome.stale else no_update,
            "" if outcome.ok else no_update)


def zoom_for(bounds: Sequence[float], width_px: int = MAP_WIDTH_PX) -> float:
    """A map zoom showing ``bounds`` (minx, miny, maxx, maxy) in about ``width_px`` pixels."""
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, (maxy - miny) * 1.3, 1e-4)
    return float(np.clip(np.log2(360 * width_px / (256 * span)), 3, 18))


def small_map(area: shapely.Geometry | None, *, center: tuple[float, float], zoom: float,
              height: int) -> go.Figure:
    """An empty small map centred on ``center`` with ``area`` outlined; traces are added by the caller."""
    layers = []
    if area is not None:
        outline = features_to_geojson([area])
        layers = [{"source": outline, "type": "fill", "color": "rgba(10,132,255,0.18)"},
                  {"source": outline, "type": "line", "color": "#0a84ff", "line": {"width": 2}}]
    figure = go.Figure()
    figure.update_layout(
        map={"style": offline_style(MAP_BACKGROUND), "zoom": zoom, "center": {"lon": center[0], "lat": center[1]},
             "layers": layers},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=height, paper_bgcolor=MAP_BACKGROUND,
        clickmode="event", hovermode="closest", dragmode="pan", showlegend=False,
    )
    return figure
