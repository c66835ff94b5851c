"""/admin/channels (issue 17 §3): the notification channels — where notifications reach people outside the app
(an Apprise URL for a department, a user or a duty post). A table of the channels (the URL masked, a delete
button each, asked again in a dialog) and a form to add one (the URL typed into a password input and never
shown back); ``callbacks.admin_channels`` fills and acts through ``dispatch.outbox``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.admin_kit import button, message_line, page
from layouts.components import LEVEL_COLOURS, dropdown, empty, field, panel, table

#: The kinds of target a channel has, in the order of the form's choices (``ChannelSpec``'s fields).
TARGET_KINDS = ("department", "user", "duty_post")
#: The minimum levels, lowest first (blue: every alert and card reaches the channel).
MIN_LEVELS = tuple(reversed(LEVEL_COLOURS))


def channels_table(rows: Sequence[dict[str, Any]]) -> html.Div | html.Table:
    """Each channel as ``{"id", "name", "kind", "target", "url", "min_level", "created"}`` (the target already
    named, the URL masked, ``created`` a local time) with its delete button."""
    if not rows:
        return empty("admin_channels.none")
    body = [[row["name"], f"{t('admin_channels.kind.' + row['kind'])}: {row['target']}", row["url"],
             t(f"level.{row['min_level']}"), row["created"],
             html.Button(t("admin_channels.delete"), id={"type": ids.ADMIN_CHANNELS_DELETE, "id": row["id"]},
                         className="action-button", **{"data-testid": f"admin_channels-delete-{row['id']}"})]
            for row in rows]
    headers = [t(f"admin_channels.col.{key}") for key in ("name", "target", "url", "min_level", "created")] + [""]
    return table(headers, body, row_testid="admin_channels-row")


def _choice(label_key: str, component_id: str, choices: list[dict[str, str]] | None = None, **props: Any) -> Any:
    return field(label_key, dropdown(id=component_id, options=choices or [], **props), component_id)


def layout(**_query: str) -> html.Div:
    """The channels, the form that adds one, and the dialog that asks before a delete."""
    kinds = [{"label": t(f"admin_channels.kind.{kind}"), "value": kind} for kind in TARGET_KINDS]
    levels = [{"label": t(f"level.{level}"), "value": level} for level in MIN_LEVELS]
    form = html.Div([
        field("admin_channels.name", dcc.Input(id=ids.ADMIN_CHANNELS_NAME, type="text", maxLength=128,
                                               className="console-input"), ids.ADMIN_CHANNELS_NAME),
        _choice("admin_channels.kind", ids.ADMIN_CHANNELS_KIND, kinds, value=TARGET_KINDS[0], clearable=False),
        _choice("admin_channels.target", ids.ADMIN_CHANNELS_TARGET),
        field("admin_channels.url", dcc.Input(id=ids.ADMIN_CHANNELS_URL, type="password", maxLength=2000,
                                              autoComplete="off", className="console-input"), ids.ADMIN_CHANNELS_URL),
        _choice("admin_channels.min_level", ids.ADMIN_CHANNELS_LEVEL, levels, value=MIN_LEVELS[0],
                clearable=False),
        button("admin_channels.add", ids.ADMIN_CHANNELS_ADD, primary=True),
    ], className="field-row")
    return page("/admin/channels", "nav.admin_channels",
                message_line(ids.ADMIN_CHANNELS_MESSAGE),
                panel(t("admin_channels.channels"), html.Div(id=ids.ADMIN_CHANNELS_LIST), class_name="admin-panel",
                      **{"data-testid": ids.ADMIN_CHANNELS_LIST}),
                panel(t("admin_channels.new"), [html.P(t("admin_channels.help"), className="field-help"), form],
                      class_name="admin-panel", **{"data-testid": "admin_channels-form"}),
                dcc.ConfirmDialog(id=ids.ADMIN_CHANNELS_CONFIRM),
                dcc.Store(id=ids.ADMIN_CHANNELS_PENDING), dcc.Store(id=ids.ADMIN_CHANNELS_CHANGED, data=0))
