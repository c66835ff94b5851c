"""Callbacks of the duty-rota panel of /admin (issue 17 §4): list a week of the rota, add or remove an entry
through ``dispatch.duty`` (admin only, audited there)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, html

from callbacks.common import uow
from callbacks.pagekit import clicked_id, signed_in
from data.models import utcnow
from dispatch import duty
from i18n import t
from layouts import ids
from settings import get_settings

WEEK = timedelta(days=6)


def _day(value: str | None) -> date:
    """A picked day (``YYYY-MM-DD``, or a datetime's ISO text), else today (local)."""
    if value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    return utcnow().astimezone(get_settings().zone).date()


def rota_table(rows: list[dict[str, Any]]) -> html.Table | html.P:
    """The week's entries (day, shift, post, person) with a remove button each."""
    if not rows:
        return html.P(t("duty.none"))
    head = html.Tr([html.Th(t(key)) for key in ("duty.col.day", "duty.col.shift", "duty.col.post",
                                                "duty.col.person")] + [html.Th("")])
    body = [html.Tr([html.Td(row["day"]), html.Td(t(f"duty.shift.{row['shift']}")),
                     html.Td(t(f"duty.post.{row['post']}")), html.Td(f"{row['name']} ({row['username']})"),
                     html.Td(html.Button(t("duty.admin.remove"), id={"type": ids.ADMIN_DUTY_REMOVE, "id": row["id"]},
                                         className="action-button"))],
                    **{"data-testid": "admin-duty-row"}) for row in rows]
    return html.Table([html.Thead(head), html.Tbody(body)])


@callback(
    Output(ids.ADMIN_DUTY_LIST, "children"),
    Output(ids.ADMIN_DUTY_SHIFT, "options"),
    Output(ids.ADMIN_DUTY_POST, "options"),
    Input(ids.ADMIN_DUTY_WEEK, "date"),
    Input(ids.ADMIN_DUTY_CHANGED, "data"),
)
def show_rota(week: str | None, _changed: Any) -> tuple[Any, list[dict[str, str]], list[dict[str, str]]]:
    """The rota of the week from the picked day (today by default), and the shift and post choices."""
    first = _day(week)
    with uow() as session:
        rows = [duty.rota_to_dict(row) for row in duty.rota_between(session, first, first + WEEK)]
    shifts = [{"label": t(f"duty.shift.{s.code}"), "value": s.code} for s in duty.SHIFTS]
    posts = [{"label": t(f"duty.post.{post}"), "value": post} for post in duty.POSTS]
    return rota_table(rows), shifts, posts


@callback(
    Output(ids.ADMIN_DUTY_MESSAGE, "children"),
    Output(ids.ADMIN_DUTY_CHANGED, "data"),
    Input(ids.ADMIN_DUTY_ADD, "n_clicks"),
    Input({"type": ids.ADMIN_DUTY_REMOVE, "id": ALL}, "n_clicks"),
    State(ids.ADMIN_DUTY_DAY, "date"),
    State(ids.ADMIN_DUTY_SHIFT, "value"),
    State(ids.ADMIN_DUTY_POST, "value"),
    State(ids.ADMIN_DUTY_USER, "value"),
    State(ids.ADMIN_DUTY_CHANGED, "data"),
    prevent_initial_call=True,
)
def edit_rota(_add: Any, _remove: Any, day: str | None, shift: str | None, post: str | None,
              username: str | None, changed: int | None) -> tuple[html.Div, int]:
    """Add the entry of the form, or remove the entry whose button was clicked; refusals say why."""
    removing = clicked_id()
    if removing is None and ctx.triggered_id != ids.ADMIN_DUTY_ADD:
        return html.Div(), changed or 0  # a re-render of the remove buttons, not a click
    try:
        with uow() as session:
            if removing is not None:
                duty.remove_rota_entry(session, signed_in(), int(removing["id"]))
                text = t("duty.admin.removed")
            else:
                entry = duty.RotaEntryIn(_day(day), shift or "", post or "", username or "")
                duty.add_rota_entry(session, signed_in(), entry)
                text = t("duty.admin.added")
    except duty.DutyError as exc:
        refusal = f"{t('duty.admin.refused')}: {exc.message}"
        return html.Div(refusal, className="msg msg-error", role="alert"), changed or 0
    return html.Div(text, className="msg msg-ok", role="status"), (changed or 0) + 1
