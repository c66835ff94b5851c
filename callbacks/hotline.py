"""Hotline-seat callbacks: category choices, doorplate-address search, taking a call (answered
directly or transferred), the seat's latest orders with masked phones, and the caller's rating."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from callbacks.common import uow
from callbacks.dispatchkit import run_work
from callbacks.pagekit import DASH, Outcome, clicked_id, local_time, name_of, outcome_view, refusal_message
from data.models import Incident, IncidentState
from dispatch.categories import reportable_categories
from dispatch.hotline import HotlineCall, search_doorplates, take_call
from dispatch.service import SATISFACTION, mask_phone, rate_incident
from i18n import t
from layouts import ids
from layouts.components import empty, table

RECENT_ROWS = 20
ADDRESS_MATCHES = 10


@callback(Output(ids.HOTLINE_CATEGORY, "options"), Input(ids.HOTLINE_BOOT, "data"))
def fill_categories(_boot: Any) -> list[dict[str, str]]:
    """The categories a caller may report."""
    with uow() as session:
        return [{"label": f"{c.code} {name_of(c)}", "value": c.code} for c in reportable_categories(session)]


@callback(
    Output(ids.HOTLINE_ADDRESS, "options"),
    Input(ids.HOTLINE_ADDRESS, "search_value"),
    State(ids.HOTLINE_ADDRESS, "value"),
    State(ids.HOTLINE_ADDRESS, "options"),
    prevent_initial_call=True,
)
def search_address(text: str | None, chosen: str | None, options: list[dict[str, str]] | None) -> Any:
    """Doorplates matching what the seat types (the chosen one stays among the options)."""
    if not text:
        raise PreventUpdate
    with uow() as session:
        found = [{"label": f"{p.address} · {p.code}", "value": p.code}
                 for p in search_doorplates(session, text, limit=ADDRESS_MATCHES)]
    kept = [o for o in options or [] if o["value"] == chosen and o not in found]
    return kept + found


@callback(
    Output(ids.HOTLINE_MESSAGE, "children"),
    Output(ids.HOTLINE_RESULT, "data"),
    Output(ids.HOTLINE_CONTENT, "value"),
    Output(ids.HOTLINE_ANSWER, "value"),
    Input(ids.HOTLINE_SUBMIT, "n_clicks"),
    State(ids.HOTLINE_CALLER, "value"),
    State(ids.HOTLINE_PHONE, "value"),
    State(ids.HOTLINE_CONTENT, "value"),
    State(ids.HOTLINE_CATEGORY, "value"),
    State(ids.HOTLINE_ADDRESS, "value"),
    State(ids.HOTLINE_MODE, "value"),
    State(ids.HOTLINE_ANSWER, "value"),
    State(ids.HOTLINE_RESULT, "data"),
    prevent_initial_call=True,
)
def submit_call(clicks: int | None, caller: str | None, phone: str | None, content: str | None,
                category: str | None, doorplate: str | None, mode: str | None, answer: str | None,
                result: int | None) -> tuple[Any, ...]:
    """Record the call as a work order and answer or transfer it; a refusal keeps what was typed."""
    if not clicks:
        raise PreventUpdate
    if not category:
        return outcome_view(Outcome(False, refusal_message("category_required"))), no_update, no_update, no_update
    call = HotlineCall(caller=caller or "", phone=phone or "", content=content or "", category=category,
                       doorplate=doorplate or None, mode=mode or "transfer", answer=(answer or "").strip() or None)
    outcome = run_work(lambda session, user: take_call(session, call, actor=user).code,
                       lambda code: t(f"hotline.done.{call.mode}", code=code))
    if not outcome.ok:
        return outcome_view(outcome), no_update, no_update, no_update
    return outcome_view(outcome), (result or 0) + 1, "", ""


def _rating_cell(incident: Incident) -> Any:
    if incident.satisfaction is not None:
        return t(f"satisfaction.{incident.satisfaction}")
    if incident.state != IncidentState.CLOSED:
        return DASH
    return html.Div([html.Button(t(f"satisfaction.{s}"), id={"type": ids.HOTLINE_RATE, "id": incident.id, "value": s},
                                 className="action-button", **{"data-testid": f"hotline-rate-{s}"})
                     for s in SATISFACTION], className="console-actions")


@callback(Output(ids.HOTLINE_RECENT, "children"), Input(ids.HOTLINE_RESULT, "data"), Input(ids.HOTLINE_BOOT, "data"))
def show_recent(_result: Any, _boot: Any) -> Any:
    """The latest hotline orders: code, caller with masked phone, category, mode, state, rating."""
    with uow() as session:
        rows = session.scalars(
            select(Incident).where(Incident.source == "hotline").options(selectinload(Incident.category))
            .order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(RECENT_ROWS)
        ).all()
        body = [[i.code, local_time(i.reported_at), f"{i.caller_name or DASH} {mask_phone(i.caller_phone) or ''}",
                 name_of(i.category), t(f"hotline.mode.{i.hotline_mode}") if i.hotline_mode else DASH,
                 t(f"state.{i.state}"), _rating_cell(i)] for i in rows]
    if not body:
        return empty()
    headers = [t(f"hotline.col.{c}") for c in ("code", "at", "caller", "category", "mode", "state", "rating")]
    return table(headers, body, row_testid="hotline-row")


@callback(
    Output(ids.HOTLINE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.HOTLINE_RESULT, "data", allow_duplicate=True),
    Input({"type": ids.HOTLINE_RATE, "id": ALL, "value": ALL}, "n_clicks"),
    State(ids.HOTLINE_RESULT, "data"),
    prevent_initial_call=True,
)
def rate_call(_clicks: list[int | None], result: int | None) -> tuple[Any, Any]:
    """The caller's satisfaction with a closed order (满意/基本满意/不满意), recorded once."""
    clicked = clicked_id()
    if clicked is None:
        raise PreventUpdate
    outcome = run_work(lambda session, user: rate_incident(session, int(clicked["id"]), clicked["value"],
                                                           actor=user).code,
                       lambda code: t("hotline.rated", code=code, value=t(f"satisfaction.{clicked['value']}")))
    return outcome_view(outcome), (result or 0) + 1 if outcome.ok else no_update
