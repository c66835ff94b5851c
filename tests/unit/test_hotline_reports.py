"""Issue 20's reports and their routes: the trend API, the monthly report (月报) with its hotline, by-source,
out-of-hours and trend sections, the urgent report (快报) of one incident, and the briefing's hotline section —
each rendered as PDF and XLSX and holding its figures."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

import api  # noqa: F401  (declares every /api/v1 route, the report routes among them)
from data.models import Incident
from dispatch.briefing import build_briefing, build_monthly, period_of, urgent_report
from dispatch.hotline import screen_hotline
from dispatch.kpi import kpi_snapshot
from dispatch.service import NotFound
from layouts.bigscreen_panels import HOTLINE_PANEL_KEYS, hotline_cells
from layouts.bigscreen_tiles import format_kpi
from reports.monthly import render_monthly, render_monthly_html, render_urgent
from reports.render import render_html, render_xlsx
from tests.unit.test_api_v1 import app, call, tokens  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import G1_POINT, make_city
from tests.unit.test_hotline_figures import END, NOW, START, at, order, seed_month


def cells(data: bytes) -> list[str]:
    """Every cell's text of a workbook."""
    book = load_workbook(io.BytesIO(data))
    return [str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]


def test_monthly_report_holds_the_hotline_sources_and_out_of_hours_figures(session):
    seed_month(session)  # September 2026: five hotline orders, satisfaction 2 of 3 reached, 1.98 working days
    # A citizen's report on Saturday night: the month's one report outside working hours.
    session.execute(insert(Incident), [order(30, at(26, 22), source="citizen")])
    report = build_monthly(session, date(2026, 9, 15), NOW)
    assert report.current["hotline"]["orders"] == 5
    assert report.current["out_of_hours"] == report.current["out_of_hours_by_source"]["citizen"] == 1
    html = render_monthly_html(report, "en")
    assert "Monthly report 2026-09" in html
    assert "66.7" in html  # satisfaction 2/3
    assert "Repeated addresses" in html and "Reported out of hours" in html
    book = cells(render_monthly(report, "xlsx", "zh"))
    assert "八小时外反映事件" in book and "随手拍" in book
    assert "2.0" in book  # the mean handling time in working days (1.98, shown to one place)
    source_row = book[book.index("随手拍"):book.index("随手拍") + 5]
    # reported, the month before, the change (escaped: a spreadsheet never runs it), out of hours
    assert source_row == ["随手拍", "1", "0", "'+1", "1"]
    assert render_monthly(report, "pdf", "zh").startswith(b"%PDF")


def test_urgent_report_lists_the_facts_and_the_timeline(session):
    from dispatch.service import apply_action, create_incident

    city = make_city(session)
    incident = create_incident(session, category_code="L01", source="citizen", title="燃气味道", lon=G1_POINT[0],
                               lat=G1_POINT[1], actor=city.operator, address="和平路 1 号")
    apply_action(session, incident.id, "file", actor=city.operator, version=incident.version, note="核实属实")
    report = urgent_report(session, incident.code)
    assert [h["action"] for h in report["timeline"]][-1] == "file"
    book = cells(render_urgent(report, "xlsx", "zh"))
    assert incident.code in " ".join(book) and "燃气味道" in book and "核实属实" in book and "和平路 1 号" in book
    assert render_urgent(report, "pdf", "en").startswith(b"%PDF")
    with pytest.raises(NotFound):
        urgent_report(session, "NO-SUCH-CODE")


def test_briefing_has_a_hotline_section(session):
    seed_month(session)
    briefing = build_briefing(session, *period_of("month", date(2026, 9, 15)), NOW)
    html = render_html(briefing, "zh")
    assert 'data-testid="briefing-hotline"' in html and "重复来电" in html
    assert "直办率" in " ".join(cells(render_xlsx(briefing, "zh")))


def test_report_routes_answer_leaders_refuse_workers_and_name_bad_input(call, db):  # noqa: F811
    with db.uow() as session:
        end = datetime.now(UTC)
        session.execute(insert(Incident), [
            {"code": f"R{i}", "state": "reported", "version": 1, "category_code": "S0101", "source": "citizen",
             "title": "t", "reported_at": end - timedelta(days=1, minutes=i), "card": "none", "rework_count": 0,
             "exercise": False, "escalated": False, "updated_at": end} for i in range(3)])
    answer = call("GET", "/api/v1/trends", "boss")
    assert answer.status_code == 200, answer.get_json()
    assert [r["code"] for r in answer.get_json()["rising_categories"]] == ["S0101"]
    assert call("GET", "/api/v1/trends?to=yesterday", "boss").status_code == 422
    assert call("GET", "/api/v1/trends", "w1").status_code == 403
    monthly = call("GET", "/api/v1/reports/monthly?format=xlsx", "boss")
    assert monthly.status_code == 200 and monthly.mimetype.endswith("spreadsheetml.sheet")
    assert call("GET", "/api/v1/reports/monthly?month=2026-13", "boss").status_code == 422
    assert call("GET", "/api/v1/reports/urgent/R1?format=xlsx", "op").status_code == 200
    assert call("GET", "/api/v1/reports/urgent/NOPE", "op").status_code == 404
    assert call("GET", "/api/v1/reports/urgent/R1", "gasman").status_code == 403


def test_screen_hotline_panel_takes_the_tiles_snapshot_and_counts_out_of_hours(session):
    seed_month(session)
    session.execute(insert(Incident), [
        order(31, at(26, 22), mode="transfer", phone="13700000000"),  # a hotline call on Saturday night
        order(32, at(28, 7), source="citizen"),                        # a citizen's report before opening
    ])
    snapshot = kpi_snapshot(session, START, END, now=NOW)  # what the tiles read
    figures = screen_hotline(session, snapshot, START, END, NOW)
    assert {k: figures[k] for k in snapshot["hotline"]} == snapshot["hotline"]  # the one formula
    assert figures["orders"] == 6 and figures["transferred_rate"] == round(5 / 6, 4)
    assert (figures["out_of_hours"], figures["citizen_out_of_hours"]) == (1, 1)
    shown = {key: format_kpi(key, figures.get(key)) for key in HOTLINE_PANEL_KEYS}
    cells_html = json.dumps([c.to_plotly_json() for c in hotline_cells(shown)], default=lambda o: o.to_plotly_json(),
                            ensure_ascii=False)
    assert '"data-testid": "hotline-out_of_hours"' in cells_html and "83.3%" in cells_html  # transferred 5 of 6


def test_cli_writes_the_monthly_report_and_refuses_an_unknown_incident_in_one_line(tmp_path, db):
    from tests.unit.test_app import _cli

    env = {"CITYOPS_DATABASE_URL": db.url, "CITYOPS_REPORTS_DIR": str(tmp_path)}
    done = _cli("report-monthly", "--month", "2026-11", "--format", "xlsx", env=env)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "monthly-2026-11.xlsx"
    assert done.stdout.strip().endswith(str(written)) and "八小时外反映事件" in cells(written.read_bytes())
    refused = _cli("report-urgent", "NO-SUCH-CODE", env=env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "NO-SUCH-CODE" in refused.stderr
    assert _cli("report-monthly", "--month", "2026-13", env=env).returncode != 0
