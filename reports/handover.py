"""The printable page of a shift handover (交接班记录): the shift, its crew, its log, its open matters, the note and
who took over; an HTML page laid out for A4 (the browser prints it, WeasyPrint could render it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from i18n import current_lang, t
from reports.render import TEMPLATES

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _local(iso: str | None) -> str:
    """An ISO time (already in CITYOPS_TZ) as ``YYYY-MM-DD HH:MM``."""
    return "" if not iso else datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


def render_handover(record: dict[str, Any], lang: str | None = None) -> str:
    """The HTML page of ``record`` (``dispatch.duty.handover_to_dict``), every text escaped."""
    lang = lang or current_lang()
    return _env.get_template("handover.html").render(
        h=record, lang=lang, local=_local, shift_name=t(f"duty.shift.{record['shift']}", lang),
        t=lambda key, **values: t(key, lang, **values))
