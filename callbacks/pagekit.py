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

from domain.errors import DomainError
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


def refusal_message(refusal: str | DomainError) -> str:
    """The translated message of a refusal: a ``domain.errors.DomainError`` (its ``message_key`` with its
    values) or a bare code (``error.<code>``); a generic one when the catalog has no such key."""
    if isinstance(refusal, DomainError):
        code, key, values = refusal.code, refusal.message_key, refusal.values
    else:
        code, key, values = refusal, f"error.{refusal}", {}
    text = t(key, **values)
    return t("error.generic", code=code) if text == key else text


@dataclass(frozen=True)
class Outcome:
    """What became of an action: done, or refused (``stale`` when someone else changed it first)."""

    ok: bool
    message: str
    stale: bool = False


def outcome_view(outcome: Outcome) -> html.Div:
    """The message line of an outcome (a polite status when done, an alert when refused)."""
    return html.Div(
        outcome.message,
        className="msg msg-ok" if outcome.ok else "msg msg-error",
        role="status" if outcome.ok else "alert",
    )
