"""The leader's briefing (/briefing): a period against the previous one — KPIs, trend, department and
grid rankings with grades, top problem categories, a hot-spot map, the overdue list, downloads."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import panel

#: The periods a leader can pick, in display order.
PERIODS = ("day", "week", "month", "quarter", "custom")


def _graph(component_id: str) -> dcc.Graph:
    return dcc.Graph(id=component_id, config={"displayModeBar": False}, className="briefing-graph")


def layout(**_query: str) -> html.Div:
    """The briefing view; everything below the picker arrives through one callback."""
    picker = html.Div(
        [
            dcc.RadioItems(
                id=ids.BRIEFING_PERIOD,
                options=[{"label": t(f"briefing.period.{p}"), "value": p} for p in PERIODS],
                value=PERIODS[0],
                inline=True,
                className="briefing-period",
                inputClassName="briefing-period-input",
                labelClassName="briefing-period-label",
            ),
            dcc.DatePickerSingle(id=ids.BRIEFING_DAY, display_format="YYYY-MM-DD", className="briefing-date",
                                 placeholder=t("briefing.pick_day")),
            dcc.DatePickerRange(id=ids.BRIEFING_CUSTOM, display_format="YYYY-MM-DD", className="briefing-date",
                                start_date_placeholder_text=t("briefing.pick_start"),
                                end_date_placeholder_text=t("briefing.pick_end")),
            html.Div(id=ids.BRIEFING_RANGE, className="briefing-range"),
            html.A(t("briefing.download_pdf"), id=ids.BRIEFING_PDF, className="briefing-download",
                   **{"data-testid": "briefing-pdf"}),
            html.A(t("briefing.download_xlsx"), id=ids.BRIEFING_XLSX, className="briefing-download",
                   **{"data-testid": "briefing-xlsx"}),
        ],
        className="briefing-head",
        **{"data-testid": ids.BRIEFING_PERIOD},
    )
    return html.Div(
        [
            picker,
            html.Div(id=ids.BRIEFING_TILES, className="briefing-tiles"),
            html.Div(
                [
                    panel(t("briefing.kpis"), html.Div(id=ids.BRIEFING_KPIS), class_name="briefing-panel"),
                    html.Div(
                        [
                            panel(t("briefing.trend"), _graph(ids.BRIEFING_TREND), class_name="briefing-panel"),
                            panel(t("briefing.hotspots"), _graph(ids.BRIEFING_HOTSPOTS),
                                  class_name="briefing-panel"),
                        ],
                        className="briefing-col",
                    ),
                ],
                className="briefing-row",
            ),
            html.Div(
                [
                    panel(t("briefing.departments"), html.Div(id=ids.BRIEFING_DEPARTMENTS),
                          class_name="briefing-panel"),
                    panel(t("briefing.grids"), html.Div(id=ids.BRIEFING_GRIDS), class_name="briefing-panel"),
                ],
                className="briefing-row",
            ),
            html.Div(
                [
                    panel(t("briefing.categories"), _graph(ids.BRIEFING_CATEGORIES), class_name="briefing-panel"),
                    panel(t("briefing.overdue"), html.Div(id=ids.BRIEFING_OVERDUE), class_name="briefing-panel"),
                ],
                className="briefing-row",
            ),
            html.Div(
                [
                    panel(t("hotline_reports.hotline"), html.Div(id=ids.BRIEFING_HOTLINE), class_name="briefing-panel"),
                    panel(t("review.briefing.title"), html.Div(id=ids.BRIEFING_WARNINGS), class_name="briefing-panel"),
                ],
                className="briefing-row",
            ),
            panel(t("briefing.archive"), html.Div(id=ids.BRIEFING_ARCHIVE), class_name="briefing-panel"),
        ],
        className="briefing-page",
    )
