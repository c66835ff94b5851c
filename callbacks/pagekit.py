"""What the console, worker, briefing and admin callbacks share: the signed-in user, the clicked
pattern-matching button, times in CITYOPS_TZ, names in the user's language, and applying one
workflow action with its refusals turned into translated messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dash import ctx, html
from flask_login import current_user

from callbacks.common import uow
from dispatch.service import ServiceError, StaleVersion, apply_action
from dispatch.workflow import ActionNotAllowed
from i18n import current_lang, t
from settings import get_settings

#: What is shown for a missing value (never 0, never NaN).
DASH = "—"


class Named(Protocol):
    """A row with a Chinese and an English name (Department, Category)."""

    name_zh: str
    name_en: str


def fingerprint(*facts: Any) -> str:
    """A digest of what a periodically refreshed list shows (and of the language it is shown in), so
    a refresh that would draw the same thing can leave the page alone: redrawing replaces the button
    under a pointer or finger and clears what was ticked or picked on the old rows."""
    return hashlib.sha256(repr((current_lang(), facts)).encode()).hexdigest()


def signed_in() -> Any:
    """The signed-in user (an ``api.auth.AuthUser``), unwrapped from Flask-Login's proxy."""
    return current_user._get_current_object()


def clicked_id() -> dict[str, Any] | None:
    """The pattern-matching id of the button that was really clicked, else None.

    Dash also runs a callback with ``ALL`` inputs when matching buttons are (re)rendered; their
    ``n_clicks`` is then empty, which is how a re-render is told apart from a click.
    """
    for item in ctx.triggered:
        if item.get("value"):
            component_id = ctx.triggered_prop_ids.get(item["prop_id"])
            if isinstance(component_id, dict):
                return dict(component_id)
    return None


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` in the display time zone (CITYOPS_TZ), or a dash when there is none."""
    return DASH if moment is None else moment.astimezone(get_settings().zone).strftime(fmt)


def name_of(row: Named | None) -> str:
    """The name of a department or category in the current language."""
    if row is None:
        return DASH
    return row.name_en if current_lang() == "en" else row.name_zh


def refusal_message(code: str) -> str:
    """The translated message of a service refusal code (``error.<code>``, else a generic one)."""
    key = f"error.{code}"
    text = t(key)
    return t("error.generic", code=code) if text == key else text


@dataclass(frozen=True)
class Outcome:
    """What became of an action: done, or refused (``stale`` when someone else changed it first)."""

    ok: bool
    message: str
    stale: bool = False


def run_action(incident_id: int, action: str, *, version: int, note: str | None = None,
               department_code: str | None = None) -> Outcome:
    """Apply ``action`` by the signed-in user in one unit of work; a refusal changes nothing."""
    note = (note or "").strip() or None
    try:
        with uow() as session:
            incident = apply_action(session, incident_id, action, version=version, actor=signed_in(),
                                    note=note, department_code=department_code)
            code = incident.code
    except StaleVersion:
        return Outcome(False, t("error.stale_version"), stale=True)
    except (ServiceError, ActionNotAllowed) as exc:
        return Outcome(False, refusal_message(exc.code))
    return Outcome(True, t("pages.action_done", action=t(f"action.{action}"), code=code))


def outcome_view(outcome: Outcome) -> html.Div:
    """The message line of an outcome (a polite status when done, an alert when refused)."""
    return html.Div(
        outcome.message,
        className="msg msg-ok" if outcome.ok else "msg msg-error",
        role="status" if outcome.ok else "alert",
    )
