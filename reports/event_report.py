"""The event report (应急事件报告, issue 18 §3): an emergency event's after-action record (复盘) — the event, its
plan and level, the KPIs, the department tasks with what was late, the resources and the timeline — as an A4 HTML
page and a PDF (WeasyPrint, as the briefing; CJK fonts of the machine, nothing fetched)."""

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


def render_event_html(event: dict[str, Any], report: dict[str, Any], generated: str,
                      lang: str | None = None) -> str:
    """The report page of ``event`` (``dispatch.emergency.event_to_dict``) with its ``report``
    (``dispatch.emergency.drill_report``: KPIs and late tasks); every text escaped."""
    lang = lang or current_lang()
    return _env.get_template("event_report.html").render(
        e=event, r=report, lang=lang, local=_local, generated=_local(generated),
        t=lambda key, **values: t(key, lang, **values))


def render_event_pdf(event: dict[str, Any], report: dict[str, Any], generated: str, lang: str | None = None) -> bytes:
    """The report as an A4 PDF."""
    from weasyprint import HTML  # imported here: it is heavy and only reports need it

    return HTML(string=render_event_html(event, report, generated, lang), base_url=str(TEMPLATES)).write_pdf()
