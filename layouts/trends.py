"""The trend analysis page (/trends, issue 20): 倾向性、苗头性、普遍性问题 — categories rising week on week, hot
spots against their own baseline and repeated addresses, up to a chosen day, with the monthly report to download.
Everything below the picker arrives through one callback (callbacks/trends.py)."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import empty, panel, table


def layout(**_query: str) -> html.Div:
    """The trends view: a day picker, the three findings, the monthly report links."""
    return html.Div(
        [
            html.Div(
                [
                    html.Label(t("trends.end")),
                    dcc.DatePickerSingle(id=ids.TRENDS_END, display_format="YYYY-MM-DD", className="briefing-date"),
                    html.A(t("trends.monthly_pdf"), id=ids.TRENDS_MONTHLY_PDF, className="briefing-download",
                           **{"data-testid": "trends-monthly-pdf"}),
                    html.A(t("trends.monthly_xlsx"), id=ids.TRENDS_MONTHLY_XLSX, className="briefing-download",
                           **{"data-testid": "trends-monthly-xlsx"}),
                ],
                className="briefing-head",
            ),
            html.Div(id=ids.TRENDS_BODY, **{"data-testid": "trends-body"}),
        ],
        className="briefing trends",
    )


def findings(rules: str, rising: Sequence[Sequence[str]], hot: Sequence[Sequence[str]],
             repeated: Sequence[Sequence[str]]) -> html.Div:
    """The three findings as tables (rows already formatted), the rules stated under them."""
    def section(key: str, headers: list[str], rows: Sequence[Sequence[str]]) -> html.Section:
        body = table(headers, rows, row_testid=f"trends-{key}-row") if rows else empty()
        return panel(t(f"hotline_reports.trends.{key}"), body, class_name="briefing-panel")

    return html.Div([
        section("rising", [t("report.category"), t("hotline_reports.col.this_week"),
                           t("hotline_reports.col.last_week"), t("briefing.col.change")], rising),
        section("hot", [t("hotline_reports.col.community"), t("hotline_reports.col.this_week"),
                        t("hotline_reports.col.mean"), t("hotline_reports.col.sd")], hot),
        section("repeated", [t("hotline_reports.col.address"), t("report.count"), t("hotline_reports.col.first"),
                             t("hotline_reports.col.last")], repeated),
        html.P(rules, className="trends-rules"),
    ])
