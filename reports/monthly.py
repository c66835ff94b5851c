"""The monthly report (月报) and the urgent report (快报) of issue 20 as PDF (WeasyPrint, as the briefing) and
XLSX (openpyxl, cells escaped as the briefing's): the data come from ``dispatch.briefing.build_monthly`` and
``dispatch.briefing.urgent_report``; this module only lays them out."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from data.db import Database
from data.files import write_private
from data.models import utcnow
from data.report_files import reports_folder
from dispatch.briefing import MonthlyReport, build_monthly, urgent_report
from dispatch.trends import Trends
from dispatch.workflow import SOURCES
from i18n import t
from i18n.format import DASH, format_change, format_value
from reports.render import add_sheet, hotline_rows, kpi_rows, local_text, template_env
from settings import get_settings


def _tr(lang: str) -> Any:
    return lambda key, **kw: t(key, lang, **kw)


def source_rows(report: MonthlyReport, lang: str) -> list[list[str]]:
    """Per source: reported this month and the month before, and reported outside working hours."""
    now, before = report.current, report.before
    return [[t(f"source.{s}", lang), str(now["by_source"].get(s, 0)), str(before["by_source"].get(s, 0)),
             format_change("reported", now["by_source"].get(s, 0), before["by_source"].get(s, 0)),
             str(now["out_of_hours_by_source"].get(s, 0))] for s in SOURCES]


def trend_rows(found: Trends, lang: str) -> dict[str, list[list[str]]]:
    """The trend findings (``dispatch.trends.trends``) as table rows: rising categories, hot spots, repeated
    addresses — for the monthly report and the /trends page alike."""
    return {
        "rising": [[r.name_en if lang == "en" else r.name_zh, str(r.this_week), str(r.last_week), f"+{r.change}"]
                   for r in found.rising],
        "hot": [[h.name, str(h.this_week), f"{h.baseline_mean:.1f}", f"{h.baseline_sd:.1f}"] for h in found.hot_spots],
        "repeated": [[r.address, str(r.count), local_text(r.first, "%Y-%m-%d"), local_text(r.last, "%Y-%m-%d")]
                     for r in found.repeated],
    }


def monthly_title(report: MonthlyReport, lang: str) -> str:
    return t("hotline_reports.monthly.title", lang, month=local_text(report.period.start, "%Y-%m"))


def render_monthly_html(report: MonthlyReport, lang: str | None = None) -> str:
    lang = lang or get_settings().lang
    return template_env.get_template("monthly.html").render(
        lang=lang, t=_tr(lang), title=monthly_title(report, lang), as_of=local_text(report.as_of, "%Y-%m-%d %H:%M"),
        out_of_hours=format_value("reported", report.current["out_of_hours"]),
        out_of_hours_change=format_change("reported", report.current["out_of_hours"], report.before["out_of_hours"]),
        kpi_rows=kpi_rows(report.current, report.before, lang),
        hotline=hotline_rows(report.current, report.before, lang), sources=source_rows(report, lang),
        trends=trend_rows(report.trends, lang))


def render_monthly(report: MonthlyReport, fmt: str, lang: str | None = None) -> bytes:
    """The monthly report in ``fmt`` ("pdf" or "xlsx")."""
    lang = lang or get_settings().lang
    if fmt == "pdf":
        return _pdf(render_monthly_html(report, lang))
    if fmt != "xlsx":
        raise ValueError(f"unknown report format {fmt!r}")
    col = [t(k, lang) for k in ("briefing.col.kpi", "briefing.col.current", "briefing.col.previous",
                                "briefing.col.change")]
    workbook = Workbook()
    workbook.remove(workbook.active)
    add_sheet(workbook, t("report.sheet.kpis", lang), col,
           [[monthly_title(report, lang), "", "", ""],
            [t("hotline_reports.out_of_hours", lang), report.current["out_of_hours"], report.before["out_of_hours"],
             ""], *kpi_rows(report.current, report.before, lang)])
    add_sheet(workbook, t("hotline_reports.sheet.hotline", lang), col,
              hotline_rows(report.current, report.before, lang))
    add_sheet(workbook, t("hotline_reports.sheet.sources", lang),
           [t("hotline_reports.col.source", lang), *col[1:], t("hotline_reports.out_of_hours", lang)],
           source_rows(report, lang))
    rows = trend_rows(report.trends, lang)
    add_sheet(workbook, t("hotline_reports.sheet.rising", lang),
           [t("report.category", lang), t("hotline_reports.col.this_week", lang),
            t("hotline_reports.col.last_week", lang), t("briefing.col.change", lang)], rows["rising"])
    add_sheet(workbook, t("hotline_reports.sheet.hot", lang),
           [t("hotline_reports.col.community", lang), t("hotline_reports.col.this_week", lang),
            t("hotline_reports.col.mean", lang), t("hotline_reports.col.sd", lang)], rows["hot"])
    add_sheet(workbook, t("hotline_reports.sheet.repeated", lang),
           [t("hotline_reports.col.address", lang), t("report.count", lang), t("hotline_reports.col.first", lang),
            t("hotline_reports.col.last", lang)], rows["repeated"])
    return _xlsx(workbook)


def urgent_rows(report: dict[str, Any], lang: str) -> list[list[str]]:
    """The incident's facts as (label, value)."""
    en = lang == "en"
    department = report["department"]
    return [[t(f"hotline_reports.urgent.{key}", lang), value or DASH] for key, value in (
        ("code", report["code"]), ("title_field", report["title"]), ("description", report["description"]),
        ("category", report["category"]["en" if en else "zh"] or report["category"]["code"]),
        ("source", t(f"source.{report['source']}", lang)), ("state", t(f"state.{report['state']}", lang)),
        ("card", t(f"card.{report['card']}", lang)), ("address", report["address"]), ("grid", report["grid"]),
        ("department", (department["en" if en else "zh"]) if department else None),
        ("reported_at", local_text(report["reported_at"], "%Y-%m-%d %H:%M")),
        ("close_deadline", local_text(report["close_deadline"], "%Y-%m-%d %H:%M")),
        ("closed_at", local_text(report["closed_at"], "%Y-%m-%d %H:%M") if report["closed_at"] else None))]


def timeline_rows(report: dict[str, Any], lang: str) -> list[list[str]]:
    return [[local_text(h["at"], "%Y-%m-%d %H:%M"), t(f"action.{h['action']}", lang),
             t(f"state.{h['to_state']}", lang), h["actor"] or DASH, h["note"] or ""] for h in report["timeline"]]


def render_urgent(report: dict[str, Any], fmt: str, lang: str | None = None) -> bytes:
    """The urgent report (快报) of one incident (``dispatch.briefing.urgent_report``) in ``fmt``."""
    lang = lang or get_settings().lang
    title = t("hotline_reports.urgent.title", lang, code=report["code"])
    headers = [t(f"hotline_reports.timeline.{k}", lang) for k in ("at", "action", "state", "actor", "note")]
    if fmt == "pdf":
        return _pdf(template_env.get_template("urgent.html").render(
            lang=lang, t=_tr(lang), title=title, facts=urgent_rows(report, lang), headers=headers,
            timeline=timeline_rows(report, lang)))
    if fmt != "xlsx":
        raise ValueError(f"unknown report format {fmt!r}")
    workbook = Workbook()
    workbook.remove(workbook.active)
    add_sheet(workbook, t("hotline_reports.sheet.facts", lang), [title, ""], urgent_rows(report, lang))
    add_sheet(workbook, t("hotline_reports.sheet.timeline", lang), headers, timeline_rows(report, lang))
    return _xlsx(workbook)


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: it is heavy and only reports need it

    from reports.render import TEMPLATES

    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def _xlsx(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_monthly(db: Database, day: date, fmt: str, *, out: Path | None = None, now: datetime | None = None) -> Path:
    """Write the monthly report of ``day``'s month (the `report-monthly` command) and return its path."""
    with db.uow() as session:
        report = build_monthly(session, day, now or utcnow())
    target = out or reports_folder() / f"monthly-{day.strftime('%Y-%m')}.{fmt}"
    return write_private(target, render_monthly(report, fmt))  # names people and places: 0600


def write_urgent(db: Database, code: str, fmt: str, *, out: Path | None = None) -> Path:
    """Write the urgent report of incident ``code`` (the `report-urgent` command) and return its path."""
    with db.uow() as session:
        report = urgent_report(session, code)
    target = out or reports_folder() / f"urgent-{report['code']}.{fmt}"
    return write_private(target, render_urgent(report, fmt))
