"""Callbacks of /admin/channels (issue 17 §3): the notification channels listed (URLs masked), the targets of
the picked kind offered, a delete asked again in a dialog, and a channel added or deleted — each write through
``dispatch.outbox`` (admin only, audited there). A refused channel says why and writes nothing; the URL typed
is never sent back to the browser (the field is emptied after an add)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from admin.users import people_choices
from callbacks.admin_kit import done, named, options, refused
from callbacks.common import uow
from callbacks.pagekit import Outcome, clicked_id, local_time, outcome_view, signed_in
from data.models import NotificationChannel
from dispatch import duty, outbox
from domain.errors import DomainError
from i18n import t
from layouts import ids
from layouts.admin_channels import TARGET_KINDS, channels_table

#: The duty posts a channel may serve: the rota's posts, then the rest of the escalation chain (a department
#: head hears only the escalations of unacknowledged alerts).
DUTY_POSTS = tuple(dict.fromkeys((*duty.POSTS, *outbox.ESCALATION_CHAIN, outbox.CALLERS)))  # callers: the reply SMS


def post_label(post: str) -> str:
    """A duty post's name: the rota's own (``duty.post.*``), else this page's (the posts beyond the rota)."""
    key = f"duty.post.{post}"
    text = t(key)
    return t(f"admin_channels.post.{post}") if text == key else text


def _targets(session: Session, kind: str | None) -> list[tuple[str, str]]:
    """(value, label) of the targets of ``kind``: departments, users or duty posts."""
    if kind == "duty_post":
        return [(post, post_label(post)) for post in DUTY_POSTS]
    choices = people_choices(session)
    if kind == "department":
        return [(code, named(code, zh, en)) for code, zh, en in choices.departments]
    return choices.users if kind == "user" else []


def _row(channel: NotificationChannel) -> dict[str, Any]:
    """A channel as the table shows it: its target named, its URL masked, when it was made (local time)."""
    if channel.department is not None:
        kind, target = "department", named(channel.department.code, channel.department.name_zh,
                                           channel.department.name_en)
    elif channel.user is not None:
        kind, target = "user", f"{channel.user.username} · {channel.user.display_name}"
    else:
        kind, target = "duty_post", post_label(channel.duty_post or "")
    return {"id": channel.id, "name": channel.name, "kind": kind, "target": target, "url": channel.url_masked,
            "min_level": channel.min_level, "created": local_time(channel.created_at)}


def channel_refusal(exc: outbox.ChannelError, target: str | None) -> str:
    """The translated reason of a refused channel (the service's own message for a reason this page lacks)."""
    key = f"admin_channels.error.{exc.code}"
    reason = t(key, value=target or "")
    return t("admin_channels.refused", reason=exc.message if reason == key else reason)


@callback(
    Output(ids.ADMIN_CHANNELS_LIST, "children"),
    Input(ids.ADMIN_CHANNELS_CHANGED, "data"),
)
def list_channels(_changed: Any) -> Any:
    """Every channel not deleted, oldest first."""
    with uow() as session:
        return channels_table([_row(channel) for channel in outbox.list_channels(session)])


@callback(
    Output(ids.ADMIN_CHANNELS_TARGET, "options"),
    Output(ids.ADMIN_CHANNELS_TARGET, "value"),
    Input(ids.ADMIN_CHANNELS_KIND, "value"),
)
def list_targets(kind: str | None) -> tuple[list[dict[str, str]], None]:
    """The departments, users or duty posts to pick from, as the kind asks; the pick is cleared."""
    with uow() as session:
        return options(_targets(session, kind)), None


@callback(
    Output(ids.ADMIN_CHANNELS_CONFIRM, "displayed"),
    Output(ids.ADMIN_CHANNELS_CONFIRM, "message"),
    Output(ids.ADMIN_CHANNELS_PENDING, "data"),
    Input({"type": ids.ADMIN_CHANNELS_DELETE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def ask_delete(_clicks: Any) -> tuple[bool, str, int]:
    """Ask before deleting the channel whose button was clicked (a re-render of the buttons asks nothing)."""
    asked = clicked_id()
    if asked is None:
        raise PreventUpdate
    with uow() as session:
        channel = next((c for c in outbox.list_channels(session) if c.id == asked["id"]), None)
    if channel is None:
        raise PreventUpdate
    return True, t("admin_channels.confirm", name=channel.name), channel.id


@callback(
    Output(ids.ADMIN_CHANNELS_MESSAGE, "children"),
    Output(ids.ADMIN_CHANNELS_CHANGED, "data"),
    Output(ids.ADMIN_CHANNELS_URL, "value"),
    Input(ids.ADMIN_CHANNELS_ADD, "n_clicks"),
    Input(ids.ADMIN_CHANNELS_CONFIRM, "submit_n_clicks"),
    State(ids.ADMIN_CHANNELS_NAME, "value"),
    State(ids.ADMIN_CHANNELS_KIND, "value"),
    State(ids.ADMIN_CHANNELS_TARGET, "value"),
    State(ids.ADMIN_CHANNELS_URL, "value"),
    State(ids.ADMIN_CHANNELS_LEVEL, "value"),
    State(ids.ADMIN_CHANNELS_PENDING, "data"),
    State(ids.ADMIN_CHANNELS_CHANGED, "data"),
    prevent_initial_call=True,
)
def change(_add: int | None, _confirm: int | None, name: str | None, kind: str | None, target: str | None,
           url: str | None, level: str | None, pending: int | None, changed: int | None) -> tuple[Any, ...]:
    """Add the form's channel, or delete the one the dialog asked about (confirmed); a refusal says why and
    nothing is written. After an add the URL field is emptied (the secret is never sent back)."""
    trigger = ctx.triggered_id
    if trigger not in (ids.ADMIN_CHANNELS_ADD, ids.ADMIN_CHANNELS_CONFIRM) or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    if trigger == ids.ADMIN_CHANNELS_CONFIRM and pending is None:
        raise PreventUpdate
    actor_id = signed_in().id
    try:
        with uow() as session:
            if trigger == ids.ADMIN_CHANNELS_CONFIRM:
                gone = outbox.delete_channel(session, int(pending or 0), actor_id=actor_id)
                if gone is None:
                    return outcome_view(Outcome(False, t("admin_channels.gone"))), (changed or 0) + 1, no_update
                return done(t("admin_channels.deleted", name=gone.name)), (changed or 0) + 1, no_update
            chosen = {kind: target} if kind in TARGET_KINDS and target else {}
            spec = outbox.ChannelSpec(url=url or "", name=name or "", min_level=level or "blue", **chosen)
            made = outbox.create_channel(session, spec, actor_id=actor_id)
            message = done(t("admin_channels.added", name=made.name))
    except DomainError as exc:
        return refused(exc), no_update, no_update
    except outbox.ChannelError as exc:
        return outcome_view(Outcome(False, channel_refusal(exc, target))), no_update, no_update
    return message, (changed or 0) + 1, ""
