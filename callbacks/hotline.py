"""Hotline-seat callbacks: category choices, doorplate-address search, taking a call (answered
directly or transferred), the seat's latest orders with masked phones, and after the call the reply to
the caller (统一回复), the follow-up calls (回访) and the chase ledger (催办台账)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import ALL, Input, Output, State, callback, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import uow
from callbacks.dispatchkit import run_work
from callbacks.pagekit import DASH, Outcome, clicked_id, local_time, name_of, outcome_view, refusal_message
from data.models import Incident
from dispatch.briefing import period_of
from dispatch.categories import reportable_categories
from dispatch.hotline import (
    FollowupResult,
    HotlineCall,
    awaiting_reply,
    chase_ledger,
    list_followups,
    order_by_code,
    record_followup,
    search_doorplates,
    take_call,
)
from dispatch.kpi import kpi_snapshot
from dispatch.queries import recent_hotline_orders
from dispatch.service import chase, mask_phone, reply_to_caller
from i18n import current_lang, t
from i18n.format import format_value
from layouts import ids
from layouts.components import empty, table
from settings import get_settings

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
    """The caller's satisfaction as the follow-up call found it (the seat no longer rates at intake)."""
    return t(f"satisfaction.{incident.satisfaction}") if incident.satisfaction else DASH


@callback(Output(ids.HOTLINE_RECENT, "children"), Input(ids.HOTLINE_RESULT, "data"), Input(ids.HOTLINE_BOOT, "data"))
def show_recent(_result: Any, _boot: Any) -> Any:
    """The latest hotline orders: code, caller with masked phone, category, mode, state, rating."""
    with uow() as session:
        rows = recent_hotline_orders(session, RECENT_ROWS)
        body = [[i.code, local_time(i.reported_at), f"{i.caller_name or DASH} {mask_phone(i.caller_phone) or ''}",
                 name_of(i.category), t(f"hotline.mode.{i.hotline_mode}") if i.hotline_mode else DASH,
                 t(f"state.{i.state}"), _rating_cell(i)] for i in rows]
    if not body:
        return empty()
    headers = [t(f"hotline.col.{c}") for c in ("code", "at", "caller", "category", "mode", "state", "rating")]
    return table(headers, body, row_testid="hotline-row")


@callback(Output(ids.HOTLINE_FIGURES, "children"), Input(ids.HOTLINE_RESULT, "data"), Input(ids.HOTLINE_BOOT, "data"))
def show_figures(_result: Any, _boot: Any) -> list[html.Div]:
    """This month's hotline figures (the KPI snapshot's ``hotline``), a tile each."""
    month, _ = period_of("month", datetime.now(get_settings().zone).date())
    with uow() as session:
        figures = kpi_snapshot(session, month.start, month.end)["hotline"]
    return [html.Div([html.Div(t(f"kpi.hotline.{key}"), className="kpi-label"),
                      html.Div(format_value(key, value), className="kpi-value")],
                     className="kpi-tile", **{"data-testid": f"hotline-kpi-{key}"})
            for key, value in figures.items()]


def _order_option(incident: Incident) -> dict[str, str]:
    return {"label": f"{incident.code} · {incident.title}", "value": incident.code}


@callback(
    Output(ids.HOTLINE_REPLY_ORDER, "options"),
    Output(ids.HOTLINE_FOLLOWUP_ORDER, "options"),
    Output(ids.HOTLINE_FOLLOWUPS, "children"),
    Output(ids.HOTLINE_CHASES, "children"),
    Input(ids.HOTLINE_RESULT, "data"),
    Input(ids.HOTLINE_BOOT, "data"),
)
def show_aftercare(_result: Any, _boot: Any) -> tuple[Any, ...]:
    """The orders awaiting a reply, the pending follow-up calls and the chase ledger."""
    with uow() as session:
        replies = [_order_option(i) for i in awaiting_reply(session, limit=RECENT_ROWS)]
        pending = list_followups(session, limit=RECENT_ROWS)
        choices = [_order_option(f.incident) for f in pending]
        rows = [[f.incident.code, f"{f.incident.caller_name or DASH} {mask_phone(f.incident.caller_phone) or ''}",
                 local_time(f.incident.closed_at), f.incident.public_reply or DASH] for f in pending]
        ledger = chase_ledger(session)
    followups = (table([t(f"hotline.followup.col.{c}") for c in ("code", "caller", "closed", "reply")], rows,
                       row_testid="hotline-followup-row") if rows else empty())
    return replies, choices, followups, _ledger_view(ledger)


def _ledger_view(ledger: list[dict[str, Any]]) -> Any:
    """The chase ledger: one row per order, by department, each with its chase button."""
    body = []
    for group in ledger:
        names = group["name"] or {}
        department = names.get(current_lang()) or group["department"] or DASH
        for order in group["orders"]:
            button = html.Button(t("hotline.chase.do"), id={"type": ids.HOTLINE_CHASE, "code": order["code"]},
                                 className="action-button", **{"data-testid": "hotline-chase-button"})
            body.append([department, order["code"], order["title"], t(f"hotline.chase.{order['status']}"),
                         order["deadline"][:16].replace("T", " ") if order["deadline"] else DASH,
                         str(order["chases"]), button])
    if not body:
        return empty()
    headers = [t(f"hotline.chase.col.{c}") for c in ("department", "code", "title", "status", "deadline", "chases",
                                                       "action")]
    return table(headers, body, row_testid="hotline-chase-row")


def _form_answer(outcome: Outcome, result: int | None) -> tuple[Any, Any, Any]:
    """A form's message, the reload counter and its text field: cleared when done, kept when refused."""
    if not outcome.ok:
        return outcome_view(outcome), no_update, no_update
    return outcome_view(outcome), (result or 0) + 1, ""


@callback(
    Output(ids.HOTLINE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.HOTLINE_RESULT, "data", allow_duplicate=True),
    Output(ids.HOTLINE_REPLY_TEXT, "value"),
    Input(ids.HOTLINE_REPLY_SUBMIT, "n_clicks"),
    State(ids.HOTLINE_REPLY_ORDER, "value"),
    State(ids.HOTLINE_REPLY_TEXT, "value"),
    State(ids.HOTLINE_RESULT, "data"),
    prevent_initial_call=True,
)
def submit_reply(clicks: int | None, code: str | None, text: str | None, result: int | None) -> tuple[Any, ...]:
    """Record the reply given to the caller of a closed order; a refusal keeps what was typed."""
    if not clicks:
        raise PreventUpdate
    if not code:
        return _form_answer(Outcome(False, refusal_message("order_required")), result)
    return _form_answer(run_work(
        lambda session, user: reply_to_caller(session, order_by_code(session, code).id, text or "", actor=user).code,
        lambda done: t("hotline.reply.done", code=done)), result)


@callback(
    Output(ids.HOTLINE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.HOTLINE_RESULT, "data", allow_duplicate=True),
    Output(ids.HOTLINE_FOLLOWUP_REASON, "value"),
    Input(ids.HOTLINE_FOLLOWUP_SUBMIT, "n_clicks"),
    State(ids.HOTLINE_FOLLOWUP_ORDER, "value"),
    State(ids.HOTLINE_FOLLOWUP_RESULT, "value"),
    State(ids.HOTLINE_FOLLOWUP_REASON, "value"),
    State(ids.HOTLINE_FOLLOWUP_REOPEN, "value"),
    State(ids.HOTLINE_RESULT, "data"),
    prevent_initial_call=True,
)
def submit_followup(clicks: int | None, code: str | None, heard: str | None, reason: str | None,
                    reopen: list[str] | None, result: int | None) -> tuple[Any, ...]:
    """Record a follow-up call: not reached, or the reached caller's satisfaction (a dissatisfied one with a
    reason, and the order reopened for rework when ticked)."""
    if not clicks:
        raise PreventUpdate
    if not code or not heard:
        missing = "order_required" if not code else "result_required"
        return _form_answer(Outcome(False, refusal_message(missing)), result)
    reached = heard != "not_reached"
    call = FollowupResult(reached=reached, satisfaction=heard if reached else None,
                          reason=(reason or "").strip() or None, reopen="reopen" in (reopen or []))
    return _form_answer(run_work(
        lambda session, user: record_followup(session, code, call, actor=user).incident.code,
        lambda done: t("hotline.followup.done", code=done, value=t(f"hotline.followup.{heard}"))), result)


@callback(
    Output(ids.HOTLINE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.HOTLINE_RESULT, "data", allow_duplicate=True),
    Input({"type": ids.HOTLINE_CHASE, "code": ALL}, "n_clicks"),
    State(ids.HOTLINE_RESULT, "data"),
    prevent_initial_call=True,
)
def chase_order(_clicks: list[int | None], result: int | None) -> tuple[Any, Any]:
    """Chase (催办) the department of an order of the ledger."""
    clicked = clicked_id()
    if clicked is None:
        raise PreventUpdate
    outcome = run_work(lambda session, user: chase(session, order_by_code(session, clicked["code"]).id, None,
                                                   actor=user).code,
                       lambda code: t("hotline.chase.done", code=code))
    return outcome_view(outcome), (result or 0) + 1 if outcome.ok else no_update
