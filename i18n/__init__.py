"""Translations: the zh (default) and en catalogs and ``t()``; every user-visible string goes through here."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGS = ("zh", "en")
_FOLDER = Path(__file__).parent


@cache
def catalog(lang: str) -> dict[str, str]:
    """The catalog of ``lang`` (key → text): every ``i18n/<lang>/*.json`` file merged."""
    merged: dict[str, str] = {}
    for path in sorted((_FOLDER / lang).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def current_lang() -> str:
    """The language of the current request (the user's choice), else CITYOPS_LANG."""
    try:
        from flask import has_request_context, session

        if has_request_context() and session.get("lang") in LANGS:
            return session["lang"]
    except RuntimeError:
        pass
    from settings import get_settings

    return get_settings().lang


def t(key: str, lang: str | None = None, **values: object) -> str:
    """The text for ``key`` in ``lang`` (default: the current language), formatted with ``values``.

    A missing key shows as the key itself so it is easy to spot (a test guards against it).
    """
    text = catalog(lang or current_lang()).get(key, key)
    return text.format(**values) if values else text
