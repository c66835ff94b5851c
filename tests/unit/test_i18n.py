"""Both catalogs hold the same keys, every key the code asks for exists, and no page shows a raw key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from i18n import LANGS, catalog, t

ROOT = Path(__file__).resolve().parents[2]
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
LOOKS_LIKE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def test_zh_and_en_catalogs_have_the_same_keys():
    zh, en = set(catalog("zh")), set(catalog("en"))
    assert zh == en, f"only zh: {sorted(zh - en)[:10]}, only en: {sorted(en - zh)[:10]}"


def test_no_catalog_entry_is_empty():
    for lang in LANGS:
        assert all(v.strip() for v in catalog(lang).values()), lang


def test_every_literal_key_used_in_the_code_exists():
    used: set[str] = set()
    for folder in ("layouts", "callbacks", "api", "app.py", "reports"):
        path = ROOT / folder
        for file in ([path] if path.is_file() else path.rglob("*.py")):
            used |= set(KEY_CALL.findall(file.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in catalog("zh"))
    assert not missing, missing


def test_t_formats_values_and_shows_unknown_keys_verbatim():
    assert t("cli.listening", "en", url="http://x/") == "CityOps is running: http://x/"
    assert t("no.such.key", "zh") == "no.such.key"


def _strings(component) -> list[str]:
    out: list[str] = []
    if isinstance(component, str):
        return [component]
    if isinstance(component, (list, tuple)):
        for c in component:
            out += _strings(c)
        return out
    children = getattr(component, "children", None)
    if children is not None:
        out += _strings(children)
    return out


def _dropdowns(component) -> list:
    if isinstance(component, (list, tuple)):
        return [d for c in component for d in _dropdowns(c)]
    found = [component] if type(component).__name__ == "Dropdown" else []
    children = getattr(component, "children", None)
    return found + (_dropdowns(children) if children is not None else [])


@pytest.mark.parametrize("lang", LANGS)
def test_no_page_layout_shows_an_untranslated_key(lang):
    import dash
    from flask import Flask, session

    Flask_app = Flask(__name__)
    Flask_app.secret_key = "x"
    dash.Dash(__name__, server=Flask_app, use_pages=True, pages_folder="", assets_folder=str(ROOT / "assets"))
    from api.auth import PAGE_PATHS
    from app import register_pages
    from layouts.shell import shell

    register_pages()
    assert {page["path"] for page in dash.page_registry.values()} >= set(PAGE_PATHS)

    with Flask_app.test_request_context("/"):
        session["lang"] = lang
        rendered = [shell(username="u", role="operator", lang=lang, nav=[("/", "nav.bigscreen")],
                          page_container=None)]
        for page in dash.page_registry.values():
            # the page's own layout, past the router's role check (tests/unit/test_page_guard.py)
            layout = getattr(page["layout"], "__wrapped__", page["layout"])
            rendered.append(layout() if callable(layout) else layout)
        texts = [s for s in _strings(rendered) if s.strip()]
    assert texts, "nothing rendered"
    dropdowns = _dropdowns(rendered)  # Dash's own dropdown texts (search box, "nothing found") too
    assert len(dropdowns) >= 10
    assert all(getattr(d, "labels", {}).get("search") == t("dropdown.search", lang) for d in dropdowns), \
        [d.id for d in dropdowns if getattr(d, "labels", {}).get("search") != t("dropdown.search", lang)]
    raw = [s for s in texts if LOOKS_LIKE_KEY.match(s.strip())]
    assert not raw, raw
    if lang == "en":
        assert not any(re.search(r"[\u4e00-\u9fff]", s) for s in texts if s not in ("中文",)), \
            [s for s in texts if re.search(r"[\u4e00-\u9fff]", s)][:5]
