"""Briefing exports: the printable PDF (WeasyPrint, CJK font, charts drawn offline) and the XLSX
workbook (openpyxl; text cells that a spreadsheet would run as a formula are escaped)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font

from dispatch.briefing import KPI_KEYS, Briefing, RankRow, hotline_rows, warning_headers, warning_rows
from i18n import t
from i18n.format import DASH, format_change, format_value
from reports.charts import bars_svg, trend_svg
from settings import get_settings

TEMPLATES = Path(__file__).with_name("templates")
#: Parts of the KPIs that are counts per kind, with the catalog prefix naming each kind.
PART_PREFIX = {"alerts_firing": "level", "by_source": "source"}
TILE_KEYS = ("reported", "closure_rate", "on_time_closure_rate", "open", "red_cards", "mean_handle_hours")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("pdf", "xlsx")

template_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def local_text(moment: Any, fmt: str = "%Y-%m-%d") -> str:
    return DASH if moment is None else moment.astimezone(get_settings().zone).strftime(fmt)


def span_text(briefing: Briefing, lang: str | None = None) -> str:
    """'this period … to …, previous … to …' in days."""
    p, q = briefing.period, briefing.previous
    return t("report.span", lang, start=local_text(p.start), end=local_text(p.end - timedelta(seconds=1)),
             before_start=local_text(q.start), before_end=local_text(q.end - timedelta(seconds=1)))


def kpi_rows(current: dict[str, Any], previous: dict[str, Any], lang: str | None = None) -> list[list[str]]:
    """One row per KPI (label, value, previous value, change); counts per kind get a row each."""
    rows: list[list[str]] = []
    for key in KPI_KEYS:
        value, before = current.get(key), previous.get(key)
        if key in PART_PREFIX:
            for part in dict.fromkeys([*(value or {}), *(before or {})]):
                now_n, before_n = (value or {}).get(part), (before or {}).get(part)
                label = f"{t(f'kpi.{key}', lang)} · {t(f'{PART_PREFIX[key]}.{part}', lang)}"
                rows.append([label, format_value(key, now_n), format_value(key, before_n),
                             format_change(key, now_n, before_n)])
            continue
        rows.append([t(f"kpi.{key}", lang), format_value(key, value), format_value(key, before),
                     format_change(key, value, before)])
    return rows


def rank_cells(row: RankRow, lang: str | None) -> list[str]:
    """A ranking row as shown: name, filed, closed, closure rate, on-time closure rate, grade."""
    name = row.name_en if lang == "en" else row.name_zh
    return [name, str(row.filed), str(row.closed), format_value("closure_rate", row.closure_rate),
            format_value("on_time_closure_rate", row.on_time_closure_rate), row.grade or DASH]


def overdue_cells(briefing: Briefing, lang: str | None) -> list[list[str]]:
    en = lang == "en"
    return [[o.code, o.title, o.category_en if en else o.category_zh,
             (o.department_en if en else o.department_zh) or DASH, local_text(o.close_deadline, "%Y-%m-%d %H:%M"),
             f"{o.overdue_hours:.1f}"] for o in briefing.overdue]


def title_of(kind: str, lang: str | None) -> str:
    return t({"day": "report.daily", "week": "report.weekly"}.get(kind, "report.briefing"), lang)


def render_html(briefing: Briefing, lang: str | None = None) -> str:
    """The briefing as a printable HTML page (what the PDF is made from)."""
    lang = lang or get_settings().lang
    days = [d for d, _, _ in briefing.trend]
    categories = briefing.categories
    return template_env.get_template("briefing.html").render(
        lang=lang,
        t=lambda key, **kw: t(key, lang, **kw),
        title=title_of(briefing.period.kind, lang),
        span=span_text(briefing, lang),
        as_of=local_text(briefing.as_of, "%Y-%m-%d %H:%M"),
        tiles=[(k, format_value(k, briefing.current.get(k)),
                format_change(k, briefing.current.get(k), briefing.before.get(k))) for k in TILE_KEYS],
        kpi_rows=kpi_rows(briefing.current, briefing.before, lang),
        trend_svg=trend_svg(days, [r for _, r, _ in briefing.trend], [c for _, _, c in briefing.trend],
                            labels=(t("report.reported", lang), t("report.closed", lang))) if days else "",
        departments=[rank_cells(r, lang) for r in briefing.departments],
        grids=[rank_cells(r, lang) for r in briefing.grids],
        categories_svg=bars_svg([en if lang == "en" else zh for _, zh, en, _ in categories],
                                [n for *_, n in categories]) if categories else "",
        overdue=overdue_cells(briefing, lang),
        warning_headers=warning_headers(lang),
        warning_rows=warning_rows(briefing.warnings, lang),
        hotline=hotline_rows(briefing.current, briefing.before, lang),
    )


def render_pdf(briefing: Briefing, lang: str | None = None) -> bytes:
    """The briefing as an A4 PDF (fonts from the machine: Noto Sans CJK; nothing fetched)."""
    from weasyprint import HTML  # imported here: it is heavy and only reports need it

    return HTML(string=render_html(briefing, lang), base_url=str(TEMPLATES)).write_pdf()


def safe_cell(value: Any) -> Any:
    """A cell value that a spreadsheet will never run as a formula (text starting = + - @ gets a ')."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def add_sheet(workbook: Workbook, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    sheet = workbook.create_sheet(title[:31])
    sheet.append([safe_cell(h) for h in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        width = max(len(str(c.value or "")) for c in column)
        sheet.column_dimensions[column[0].column_letter].width = min(max(10, width * 1.6), 60)


def render_xlsx(briefing: Briefing, lang: str | None = None) -> bytes:
    """The briefing as a workbook: KPIs, rankings, categories, daily trend, overdue incidents."""
    lang = lang or get_settings().lang
    workbook = Workbook()
    workbook.remove(workbook.active)
    col = {k: t(k, lang) for k in ("briefing.col.kpi", "briefing.col.current", "briefing.col.previous",
                                   "briefing.col.change", "briefing.col.department", "report.grid")}
    add_sheet(workbook, t("report.sheet.kpis", lang),
           [col["briefing.col.kpi"], col["briefing.col.current"], col["briefing.col.previous"],
            col["briefing.col.change"]],
           [[span_text(briefing, lang), "", "", ""], *kpi_rows(briefing.current, briefing.before, lang),
            *([f"{t('hotline_reports.hotline', lang)} · {label}", *rest]
              for label, *rest in hotline_rows(briefing.current, briefing.before, lang))])
    rank_headers = [t("kpi.filed", lang), t("kpi.closed", lang), t("kpi.closure_rate", lang),
                    t("kpi.on_time_closure_rate", lang), t("report.grade", lang)]
    add_sheet(workbook, t("report.sheet.departments", lang), [col["briefing.col.department"], *rank_headers],
           [rank_cells(r, lang) for r in briefing.departments])
    add_sheet(workbook, t("report.sheet.grids", lang), [col["report.grid"], *rank_headers],
           [rank_cells(r, lang) for r in briefing.grids])
    add_sheet(workbook, t("report.sheet.categories", lang), [t("report.code", lang), t("report.category", lang),
                                                          t("report.count", lang)],
           [[code, en if lang == "en" else zh, n] for code, zh, en, n in briefing.categories])
    add_sheet(workbook, t("report.sheet.trend", lang), [t("report.day", lang), t("report.reported", lang),
                                                     t("report.closed", lang)],
           [[d.isoformat(), r, c] for d, r, c in briefing.trend])
    add_sheet(workbook, t("report.sheet.warnings", lang), warning_headers(lang), warning_rows(briefing.warnings, lang))
    add_sheet(workbook, t("report.sheet.overdue", lang),
           [t("report.code", lang), t("report.title", lang), t("report.category", lang),
            col["briefing.col.department"], t("report.deadline", lang), t("report.overdue_hours", lang)],
           overdue_cells(briefing, lang))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(briefing: Briefing, fmt: str, lang: str | None = None) -> bytes:
    """The briefing in ``fmt`` ("pdf" or "xlsx")."""
    if fmt == "pdf":
        return render_pdf(briefing, lang)
    if fmt == "xlsx":
        return render_xlsx(briefing, lang)
    raise ValueError(f"unknown report format {fmt!r}")
