"""The leader's briefing: periods, grades, rankings, trend and overdue list; the PDF and XLSX exports;
the download API; the `report` command; the page callback."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import load_workbook
from pydantic import ValidationError
from sqlalchemy import insert

from data.models import Incident
from dispatch.briefing import HOTLINE_KEYS, build_briefing, grade, period_of
from i18n import t
from reports.render import render_pdf, render_xlsx, safe_cell
from settings import get_settings
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_kpi import _closed, _row

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(("kind", "day", "start", "end", "before_start"), [
    ("day", date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 2), date(2026, 2, 28)),
    ("week", date(2026, 11, 22), date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 9)),  # a Sunday
    ("month", date(2026, 3, 31), date(2026, 3, 1), date(2026, 4, 1), date(2026, 2, 1)),
    ("quarter", date(2026, 2, 14), date(2026, 1, 1), date(2026, 4, 1), date(2025, 10, 1)),
    ("quarter", date(2026, 11, 22), date(2026, 10, 1), date(2027, 1, 1), date(2026, 7, 1)),
])
def test_periods_start_at_local_midnight_and_the_previous_one_touches_them(kind, day, start, end, before_start):
    period, previous = period_of(kind, day)
    assert (period.start.date(), period.end.date(), previous.start.date()) == (start, end, before_start)
    assert previous.end == period.start
    assert period.start.utcoffset() == timedelta(hours=8)  # Asia/Shanghai


def test_a_custom_period_is_compared_with_one_as_long_before_it():
    period, previous = period_of("custom", date(2026, 11, 10), until=date(2026, 11, 19))
    assert period.end - period.start == previous.end - previous.start == timedelta(days=10)
    with pytest.raises(ValueError):
        period_of("custom", date(2026, 11, 10), until=date(2026, 11, 9))
    with pytest.raises(ValueError):
        period_of("fortnight", date(2026, 11, 10))


@pytest.mark.parametrize(("snapshot", "expected"), [
    ({"filed": 10, "closure_rate": 1.0, "on_time_closure_rate": 1.0, "rework_rate": 0.0}, "A"),
    ({"filed": 10, "closure_rate": 0.9, "on_time_closure_rate": 0.7, "rework_rate": 0.1}, "B"),
    ({"filed": 10, "closure_rate": 0.5, "on_time_closure_rate": 0.5, "rework_rate": 0.0}, "C"),
    ({"filed": 0, "closure_rate": None, "on_time_closure_rate": None, "rework_rate": None}, None),
])
def test_grades_follow_the_weighted_kpis(snapshot, expected):
    assert grade(snapshot) == expected


def test_grade_weights_and_thresholds_come_from_the_settings(monkeypatch):
    snapshot = {"filed": 10, "closure_rate": 1.0, "on_time_closure_rate": 0.5, "rework_rate": 0.0}
    assert grade(snapshot) == "B"  # (0.4·1.0 + 0.4·0.5) / 0.8 = 0.75
    monkeypatch.setenv("CITYOPS_GRADE_WEIGHTS", '{"closure_rate": 1.0}')
    get_settings.cache_clear()
    assert grade(snapshot) == "A"
    monkeypatch.setenv("CITYOPS_GRADE_THRESHOLDS", "[1.01, 0.99]")
    get_settings.cache_clear()
    assert grade(snapshot) == "B"
    monkeypatch.setenv("CITYOPS_GRADE_WEIGHTS", '{"closure_ratio": 1.0}')
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="closure_ratio"):
        get_settings()
    monkeypatch.delenv("CITYOPS_GRADE_WEIGHTS")
    monkeypatch.delenv("CITYOPS_GRADE_THRESHOLDS")
    get_settings.cache_clear()


@pytest.fixture
def history(session):
    city = make_city(session)
    rows = [_closed(i, department_id=city.gas.id, grid_id=city.g1.id, category_code="L01") for i in range(6)]
    rows += [_closed(10 + i, on_time=False, department_id=city.roads.id, grid_id=city.g2.id) for i in range(3)]
    rows += [_row(20, state="dispatched", filed_at=START + H, dispatched_at=START + 2 * H, grid_id=city.g2.id,
                  department_id=city.roads.id, close_deadline=START + 5 * H, title="=HYPERLINK(\"x\")")]
    rows += [_row(21, reported=START + 3 * 24 * H, state="filed", filed_at=START + 3 * 24 * H, exercise=True)]
    session.execute(insert(Incident), rows)
    session.flush()
    return city


def _briefing(session, kind="month", day=date(2026, 11, 10), now=datetime(2026, 12, 2, tzinfo=UTC)):
    period, previous = period_of(kind, day)
    return build_briefing(session, period, previous, now)


def test_the_briefing_ranks_departments_by_closure_rate_and_lists_the_overdue(session, history):
    briefing = _briefing(session)
    assert briefing.current["reported"] == 10  # the drill is not counted
    gas, roads = briefing.departments[0], briefing.departments[1]
    assert (gas.code, gas.closed, gas.closure_rate, gas.grade) == ("gas", 6, 1.0, "A")
    assert (roads.code, roads.filed, roads.closed, roads.on_time_closure_rate) == ("roads", 4, 3, 0.0)
    assert roads.grade == "C"
    assert [o.code for o in briefing.overdue] == ["T0000020"]
    assert briefing.overdue[0].overdue_hours > 24 * 30
    assert [g.code for g in briefing.grids] == ["G1", "G2"]
    assert briefing.categories[0][0] == "L01" and briefing.categories[0][3] == 6


def test_the_trend_counts_reports_and_closures_per_local_day(session, history):
    briefing = _briefing(session)
    by_day = {d: (r, c) for d, r, c in briefing.trend}
    assert by_day[date(2026, 11, 1)] == (10, 9)  # 01:00 UTC is 09:00 in Shanghai, same day
    assert sum(r for r, _ in by_day.values()) == 10
    assert len(briefing.trend) == 30  # the whole month, not beyond "now"


def test_the_pdf_is_a_cjk_document_with_the_departments(session, history):
    pdf = render_pdf(_briefing(session), "zh")
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert t("report.briefing", "zh") in text and "燃气公司" in text
        assert "100.0%" in text


def test_the_workbook_has_every_sheet_and_escapes_formulas(session, history):
    book = load_workbook(io.BytesIO(render_xlsx(_briefing(session), "en")))
    assert book.sheetnames == ["KPIs", "Departments", "Grids", "Categories", "Daily trend", "Warnings", "Overdue"]
    overdue = [row for row in book["Overdue"].iter_rows(values_only=True)]
    assert overdue[1][1] == "'=HYPERLINK(\"x\")"
    kpis = {row[0]: row[1] for row in book["KPIs"].iter_rows(values_only=True)}
    assert kpis["Closure rate"] == "90.0%"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)"])
def test_cells_a_spreadsheet_would_run_are_escaped(value):
    assert safe_cell(value) == "'" + value
    assert safe_cell(-1) == -1 and safe_cell("ok") == "ok"


@pytest.fixture
def client(db, history, session):
    session.commit()
    from app import create_app
    from data.accounts import create_user, issue_token
    from settings import Settings

    with db.uow() as s:
        tokens = {role: issue_token(s, create_user(s, f"u-{role}", role)) for role in ("leader", "worker")}
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="k"), db)
    return server.test_client(), tokens


def test_a_leader_downloads_the_briefing_as_xlsx_and_pdf(client):
    http, tokens = client
    auth = {"Authorization": f"Bearer {tokens['leader']}"}
    xlsx = http.get("/api/v1/briefing?kind=month&date=2026-11-10&format=xlsx&lang=en", headers=auth)
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.mimetype
    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames[0] == "KPIs"
    pdf = http.get("/api/v1/briefing?kind=custom&date=2026-11-01&until=2026-11-07", headers=auth)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


@pytest.mark.parametrize("query", ["kind=fortnight", "date=2026-02-30", "kind=custom&date=2026-11-10",
                                   "format=docx", "kind=custom&date=2026-11-10&until=2026-11-01"])
def test_bad_briefing_queries_are_422(client, query):
    http, tokens = client
    response = http.get(f"/api/v1/briefing?{query}", headers={"Authorization": f"Bearer {tokens['leader']}"})
    assert response.status_code == 422 and response.get_json()["error"]["code"]


def test_a_worker_may_not_download_briefings(client):
    http, tokens = client
    assert http.get("/api/v1/briefing", headers={"Authorization": f"Bearer {tokens['worker']}"}).status_code == 403
    leader = {"Authorization": f"Bearer {tokens['leader']}"}
    assert http.get("/api/v1/reports/..%2F..%2Fetc%2Fpasswd", headers=leader).status_code == 404
    assert http.get("/api/v1/reports/daily-2026-01-01.pdf", headers=leader).status_code == 404


def test_the_report_command_writes_the_daily_pdf_into_the_reports_folder(tmp_path):
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "CITYOPS_REPORTS_DIR": str(tmp_path / "reports")}
    done = subprocess.run([sys.executable, "app.py", "report", "daily", "--date", "2026-11-20"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip().splitlines()[-1])
    assert written == tmp_path / "reports" / "daily-2026-11-20.pdf"
    assert written.read_bytes().startswith(b"%PDF")


def test_the_page_callback_draws_the_chosen_period(db, history, session):
    session.commit()
    from callbacks import briefing as page

    server = Flask(__name__)
    server.extensions["cityops_db"] = db
    with server.test_request_context("/"):
        out = page.show_briefing("custom", None, "2026-11-07", "2026-11-01")
    span, tiles, *_tables, pdf, xlsx, day_style, range_style = out
    assert "2026-11-01" in span and "2026-11-07" in span  # a reversed range is put right
    assert "kind=custom" in pdf and "until=2026-11-07" in pdf and xlsx.endswith("format=xlsx")
    assert day_style == {"display": "none"} and range_style == {}
    assert len(tiles) == len(page.TILE_KEYS)
    hotline = out[9]  # the hotline section (issue 20): one row per DESIGN §7 hotline figure, with its label
    rows = hotline.children[1].children
    assert len(rows) == len(HOTLINE_KEYS)
    assert rows[0].to_plotly_json()["props"]["data-testid"] == "briefing-hotline-row"
