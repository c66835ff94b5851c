"""Trends page callback: the chosen day → ``dispatch.trends.trends`` up to the end of that day, drawn by
``layouts.trends.findings``, with the monthly report of that day's month to download."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from dash import Input, Output, callback

from callbacks.common import read_uow
from data.models import utcnow
from dispatch import trends as trend_rules
from dispatch.kpi import day_start, local_day
from i18n import current_lang, t
from layouts import ids
from layouts.trends import findings
from reports.monthly import trend_rows


def _end_of(day: str | None, now: datetime) -> datetime:
    """The end of the chosen local day (today when none, or a bad one), never after now."""
    try:
        chosen = date.fromisoformat(day) if day else local_day(now)
    except ValueError:
        chosen = local_day(now)
    return min(day_start(chosen + timedelta(days=1)), now)


@callback(
    Output(ids.TRENDS_BODY, "children"),
    Output(ids.TRENDS_MONTHLY_PDF, "href"),
    Output(ids.TRENDS_MONTHLY_XLSX, "href"),
    Input(ids.TRENDS_END, "date"),
)
def show_trends(day: str | None) -> tuple[Any, str, str]:
    now = utcnow()
    end = _end_of(day, now)
    lang = current_lang()
    with read_uow() as session:
        found = trend_rules.trends(session, end)
    rows = trend_rows(found, lang)
    rules = t("trends.rules", rise_min=trend_rules.RISE_MIN, hot_min=trend_rules.HOT_MIN,
              weeks=trend_rules.BASELINE_WEEKS, sigmas=trend_rules.HOT_SIGMAS, days=trend_rules.REPEAT_DAYS,
              repeat_min=trend_rules.REPEAT_MIN)
    month = local_day(end - timedelta(seconds=1)).strftime("%Y-%m")

    def link(fmt: str) -> str:
        return "/api/v1/reports/monthly?" + urlencode({"month": month, "format": fmt, "lang": lang})

    return findings(rules, rows["rising"], rows["hot"], rows["repeated"]), link("pdf"), link("xlsx")
