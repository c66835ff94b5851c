"""What the callbacks of the /admin sub-pages share: the message of a change done or refused, and a form's
pattern-matching fields read by name."""

from __future__ import annotations

from typing import Any

from dash import html

from callbacks.pagekit import Outcome, outcome_view, refusal_message
from domain.errors import DomainError
from i18n import current_lang


def done(text: str) -> html.Div:
    """The message of a change that was made."""
    return outcome_view(Outcome(True, text))


def refused(exc: DomainError) -> html.Div:
    """The translated message of a refusal (nothing was changed)."""
    return outcome_view(Outcome(False, refusal_message(exc)))


def by_field(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A form's values by field name, from Dash's list of ``{"id": {"field": name}, "value": …}``."""
    return {entry["id"]["field"]: entry.get("value") for entry in entries}


def options(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Dropdown options from (value, label) pairs."""
    return [{"label": label, "value": value} for value, label in pairs]


def named(code: str, name_zh: str, name_en: str) -> str:
    """``code name`` in the current language."""
    return f"{code} {name_en if current_lang() == 'en' else name_zh}"
