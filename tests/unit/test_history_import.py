"""Importing historical incidents (DESIGN §3): every timestamp and deadline kept, KPIs over past years,
impossible orders rejected with reasons, nothing written for a bad file."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from data.importers import ImportFileError
from data.models import Incident, IncidentHistory
from dispatch.history_import import COLUMNS, import_incidents, read_category_map
from dispatch.kpi import kpi_by, kpi_snapshot
from settings import get_settings
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city

ZONE = get_settings().zone


def write_csv(path: Path, rows: list[dict[str, str]], columns=COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def case(name: str, **times: str) -> dict[str, str]:
    """A closed-on-time case of 2024 in grid G1 unless told otherwise."""
    row = {"code": name, "category": "S0101", "source": "hotline", "reported_at": "2024-03-01 09:00",
           "filed_at": "2024-03-01 09:10", "dispatched_at": "2024-03-01 09:30", "resolved_at": "2024-03-01 15:00",
           "closed_at": "2024-03-02 10:00", "handle_deadline": "2024-03-02 09:00",
           "close_deadline": "2024-03-03 09:00", "lon": str(G1_POINT[0]), "lat": str(G1_POINT[1])}
    row.update(times)
    return row


@pytest.fixture
def city(db):
    with db.uow() as s:
        return make_city(s)


def test_history_keeps_every_time_and_deadline_and_the_kpis_cover_the_past(db, city, tmp_path):
    rows = [
        case("H-1"),
        case("H-2", closed_at="2024-03-05 10:00"),  # closed late
        case("H-3", resolved_at="", closed_at="", lon=str(G2_POINT[0]), lat=str(G2_POINT[1])),  # still dispatched
        case("H-4", filed_at="", dispatched_at="", resolved_at="", closed_at="", rejected_at="2024-03-01 10:00"),
        case("H-5", dispatched_at="", resolved_at="", closed_at="2024-03-01 09:20", source="hotline",
             handle_deadline="", close_deadline=""),  # answered directly; deadlines from the category
    ]
    report = import_incidents(db, write_csv(tmp_path / "history.csv", rows, (*COLUMNS, "rejected_at")))
    assert (report.imported, report.rejected) == (5, [])
    with db.uow() as s:
        stored = {i.code: i for i in s.scalars(select(Incident))}
        local = stored["H-1"].reported_at.astimezone(ZONE)
        assert local == datetime(2024, 3, 1, 9, 0, tzinfo=ZONE)
        assert stored["H-1"].closed_at.astimezone(ZONE) == datetime(2024, 3, 2, 10, tzinfo=ZONE)
        assert stored["H-1"].handle_deadline.astimezone(ZONE) == datetime(2024, 3, 2, 9, tzinfo=ZONE)
        assert [stored[c].state for c in ("H-1", "H-3", "H-4", "H-5")] == ["closed", "dispatched", "rejected", "closed"]
        assert (stored["H-1"].grid_id, stored["H-3"].grid_id) == (city.g1.id, city.g2.id)
        assert stored["H-1"].department_id == city.roads.id  # the category's department
        # S0101 allows 24 h to handle and 48 h to close in the test city
        assert stored["H-5"].close_deadline - stored["H-5"].reported_at == timedelta(hours=48)
        assert s.scalar(select(func.count()).select_from(IncidentHistory)) == 5
        kpi = kpi_snapshot(s, datetime(2024, 1, 1, tzinfo=ZONE), datetime(2025, 1, 1, tzinfo=ZONE))
    assert (kpi["reported"], kpi["filed"], kpi["dispatched"], kpi["handled"]) == (5, 4, 3, 2)
    assert (kpi["closed"], kpi["closed_on_time"], kpi["on_time_closure_rate"]) == (3, 2, 0.6667)
    assert kpi["by_source"]["hotline"] == 5 and kpi["open"] == 1


@pytest.mark.parametrize(("times", "reason"), [
    ({"dispatched_at": "2024-03-01 09:05"}, "dispatched_at 2024-03-01T09:05:00+08:00 is before filed_at"),
    ({"filed_at": ""}, "dispatched_at without filed_at"),
    ({"dispatched_at": ""}, "resolved_at without dispatched_at"),
    ({"resolved_at": ""}, "closed_at of a dispatched incident without resolved_at"),
    ({"closed_at": "2024-03-01 14:00"}, "is before resolved_at"),
    ({"filed_at": "2024-02-28 09:00"}, "is before reported_at"),
    ({"rejected_at": "2024-03-01 10:00"}, "rejected_at of an incident that was filed"),
    ({"reported_at": ""}, "missing reported_at"),
    ({"reported_at": "March 1st"}, "reported_at is not an ISO-8601 time"),
    ({"handle_deadline": "2024-02-01 00:00"}, "handle_deadline is before reported_at"),
    ({"category": "Z99"}, "unknown category"),
    ({"source": "pigeon"}, "unknown source"),
    ({"lon": "117.0", "lat": ""}, "lon and lat must both be numbers"),
    ({"lon": "500", "lat": "36"}, "not a WGS-84"),
    ({"code": ""}, "missing code"),
])
def test_impossible_rows_are_rejected_with_their_reason_and_the_good_rows_kept(db, city, tmp_path, times, reason):
    rows = [case("GOOD-1"), case("BAD-1", **times), case("GOOD-2")]
    report = import_incidents(db, write_csv(tmp_path / "h.csv", rows, (*COLUMNS, "rejected_at")))
    assert report.imported == 2
    assert len(report.rejected) == 1 and report.rejected[0][0] == 2 and reason in report.rejected[0][1], report.rejected
    assert f"row 2: {report.rejected[0][1]}" in "\n".join(report.lines())
    with db.uow() as s:
        assert sorted(s.scalars(select(Incident.code))) == ["GOOD-1", "GOOD-2"]


def test_codes_must_be_new(db, city, tmp_path):
    import_incidents(db, write_csv(tmp_path / "a.csv", [case("DUP-1")]))
    report = import_incidents(db, write_csv(tmp_path / "b.csv", [case("DUP-1"), case("NEW-1"), case("NEW-1")]))
    assert report.imported == 1
    assert [r for r, _ in report.rejected] == [1, 3]


def test_a_file_without_a_column_or_unreadable_changes_nothing(db, city, tmp_path):
    with pytest.raises(ImportFileError, match="close_deadline"):
        import_incidents(db, write_csv(tmp_path / "short.csv", [case("X-1")], (*COLUMNS[:-4], "lon", "lat")))
    with pytest.raises(ImportFileError):
        import_incidents(db, tmp_path / "missing.csv")
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0


def test_an_xlsx_file_imports_like_a_csv(db, city, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for code in ("X-1", "X-2"):
        row = case(code, reported_at="2023-06-01T08:00:00+08:00")
        sheet.append([row[c] for c in COLUMNS])
    book.save(tmp_path / "h.xlsx")
    report = import_incidents(db, tmp_path / "h.xlsx")
    assert (report.imported, report.rejected) == (2, [])
    with db.uow() as s:
        kpi = kpi_snapshot(s, datetime(2023, 1, 1, tzinfo=ZONE), datetime(2024, 1, 1, tzinfo=ZONE))
    assert kpi["reported"] == 2


def test_demo_history_is_deterministic_and_mostly_closed_on_time(db, city, tmp_path):
    from data.models import Doorplate
    from dispatch.demo_history import DemoHistoryError, seed_history

    with pytest.raises(DemoHistoryError):
        seed_history(db, days=3)  # no doorplates yet
    with db.uow() as s:
        s.add_all([Doorplate(code=f"DP-{i}", address=f"路 {i} 号", lon=G1_POINT[0] + i * 1e-4, lat=G1_POINT[1])
                   for i in range(5)])
    written = seed_history(db, days=20, seed=3, per_day=20)
    with db.uow() as s:
        codes = sorted(s.scalars(select(Incident.code)))
        end = datetime.now(ZONE)
        kpi = kpi_snapshot(s, end - timedelta(days=30), end)
    assert len(codes) == written > 300 and all(c.startswith("LS") for c in codes)
    assert kpi["closure_rate"] > 0.95 and kpi["on_time_closure_rate"] > 0.9
    assert sum(kpi["by_source"].values()) == written and kpi["by_source"]["hotline"] > 0
    with pytest.raises(DemoHistoryError):
        seed_history(db, days=20, seed=3)
    other = tmp_path / "again.db"
    from data.db import Database

    again = Database(f"sqlite:///{other}")
    again.migrate()
    with again.uow() as s:
        make_city(s)
        s.add_all([Doorplate(code=f"DP-{i}", address=f"路 {i} 号", lon=G1_POINT[0] + i * 1e-4, lat=G1_POINT[1])
                   for i in range(5)])
    assert seed_history(again, days=20, seed=3, per_day=20) == written  # the same seed, the same past
    again.dispose()


KNOWN = (*COLUMNS, "department", "rework_count", "assignee", "grid_code")


def test_department_and_rework_from_the_file_drive_rankings_and_rework_rate(db, city, tmp_path):
    rows = [
        case("R-1", department="gas", rework_count="2", assignee="gasman", grid_code="G2"),  # S0101 is roads' today
        case("R-2", department="gas"),
        case("R-3"),  # no department given: the category's
        case("R-4", department="", rework_count="1"),
    ]
    report = import_incidents(db, write_csv(tmp_path / "legacy.csv", rows, KNOWN))
    assert (report.imported, report.rejected) == (4, [])
    start, end = datetime(2024, 1, 1, tzinfo=ZONE), datetime(2025, 1, 1, tzinfo=ZONE)
    with db.uow() as s:
        stored = {i.code: i for i in s.scalars(select(Incident))}
        assert stored["R-1"].assignee_id == city.gas_handler.id and stored["R-3"].assignee_id is None
        # the file's grid, else the grid at the point
        assert (stored["R-1"].grid_id, stored["R-2"].grid_id) == (city.g2.id, city.g1.id)
        assert [stored[c].rework_count for c in ("R-1", "R-2", "R-3", "R-4")] == [2, 0, 0, 1]
        by_department = {row["code"]: row for row in kpi_by(s, start, end, "department")}
        kpi = kpi_snapshot(s, start, end)
    assert {code: row["reported"] for code, row in by_department.items()} == {"gas": 2, "roads": 2}
    assert (by_department["gas"]["rework_rate"], by_department["roads"]["rework_rate"]) == (0.5, 0.5)
    assert kpi["rework_rate"] == 0.5


@pytest.mark.parametrize(("cells", "reason"), [
    ({"department": "police"}, "unknown department 'police'"),
    ({"assignee": "nobody"}, "unknown assignee 'nobody'"),
    ({"grid_code": "G99"}, "unknown grid 'G99'"),
    ({"rework_count": "-1"}, "rework_count must be a whole number"),
    ({"rework_count": "1.5"}, "rework_count must be a whole number"),
    ({"rework_count": "twice"}, "rework_count must be a whole number"),
    ({"rework_count": "1", "dispatched_at": "", "resolved_at": "", "closed_at": "2024-03-01 09:20"},
     "rework_count of an incident that was never dispatched"),
])
def test_what_the_old_system_knew_must_name_something_we_know(db, city, tmp_path, cells, reason):
    rows = [case("GOOD-1", department="gas", rework_count="1"), case("BAD-1", **cells)]
    report = import_incidents(db, write_csv(tmp_path / "h.csv", rows, KNOWN))
    assert report.imported == 1
    assert len(report.rejected) == 1 and report.rejected[0][0] == 2 and reason in report.rejected[0][1], report.rejected


def test_a_category_map_renames_legacy_codes_and_rejects_rows_mapped_to_nothing(db, city, tmp_path):
    map_file = tmp_path / "map.csv"
    map_file.write_text("legacy,ours\nOLD-LITTER, S0101\nOLD-GAS,L01\nOLD-GONE,Z99\n\n", encoding="utf-8")
    category_map = read_category_map(map_file)
    assert category_map["OLD-LITTER"] == "S0101" and category_map["OLD-GAS"] == "L01"
    rows = [case("M-1", category="OLD-LITTER"), case("M-2", category="S0101"), case("M-3", category="OLD-GONE"),
            case("M-4", category="NEVER"), case("M-5", category="OLD-GAS")]
    report = import_incidents(db, write_csv(tmp_path / "h.csv", rows), category_map=category_map)
    assert report.imported == 3
    assert report.rejected == [(3, "category 'OLD-GONE' maps to unknown category 'Z99'"),
                               (4, "unknown category 'NEVER'")]
    with db.uow() as s:
        stored = {i.code: i for i in s.scalars(select(Incident))}
    assert (stored["M-1"].category_code, stored["M-5"].category_code) == ("S0101", "L01")
    assert (stored["M-1"].department_id, stored["M-5"].department_id) == (city.roads.id, city.gas.id)


@pytest.mark.parametrize(("text", "message"), [
    ("A,S0101,extra\n", "expected two columns"),
    ("A\n", "expected two columns"),
    ("A,S0101\nA,L01\n", "'A' is mapped to both 'S0101' and 'L01'"),
])
def test_a_bad_category_map_is_refused_before_anything_is_read(tmp_path, text, message):
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError, match=message):
        read_category_map(path)
    with pytest.raises(ImportFileError, match="cannot read"):
        read_category_map(tmp_path / "missing.csv")


def test_the_import_command_takes_a_category_map(db, city, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app import cli

    (tmp_path / "map.csv").write_text("OLD-LITTER,S0101\n", encoding="utf-8")
    write_csv(tmp_path / "h.csv", [case("C-1", category="OLD-LITTER"), case("C-2", category="OLD-X")])
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(db.engine.url))
    get_settings.cache_clear()
    runner = CliRunner()
    done = runner.invoke(cli, ["import", "incidents", str(tmp_path / "h.csv"), "--category-map",
                               str(tmp_path / "map.csv")])
    assert done.exit_code == 0, done.output
    assert "incidents: 1 imported, 1 rejected" in done.output and "row 2: unknown category 'OLD-X'" in done.output
    refused = runner.invoke(cli, ["import", "doorplates", str(tmp_path / "h.csv"), "--category-map",
                                  str(tmp_path / "map.csv")])
    assert refused.exit_code == 2 and "--category-map" in refused.output
