"""The dispatch loop on the real PostgreSQL 15: the 0002_dispatch migration, two concurrent closes of
one incident, a history import across insert batches feeding the KPIs, and the grouped KPIs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, insert, inspect, select

from data.models import Base, Incident, IncidentHistory
from dispatch.history_import import BATCH, COLUMNS, import_incidents
from dispatch.kpi import GROUPS, kpi_by, kpi_snapshot
from settings import get_settings
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_history_import import case, write_csv
from tests.unit.test_kpi import END, NOW, START, check_groups_match_snapshots, scoped_city, scoped_rows
from tests.unit.test_workflow_machine import check_one_close, close_concurrently, resolved_incident

ZONE = get_settings().zone
DISPATCH_TABLES = ("category_limits", "work_periods", "calendar_days", "attachments", "notifications")


def test_the_dispatch_migration_builds_its_tables_and_columns_on_postgres(pg_db):
    inspector = inspect(pg_db.engine)
    for table in (*DISPATCH_TABLES, "incidents", "categories"):
        stored = {c["name"] for c in inspector.get_columns(table)}
        assert set(Base.metadata.tables[table].columns.keys()) <= stored, table
    assert any(fk["constrained_columns"] == ["duplicate_of_id"] for fk in inspector.get_foreign_keys("incidents"))


def test_two_concurrent_closes_exactly_one_wins_on_postgres(pg_db):
    incident_id, city = resolved_incident(pg_db)
    check_one_close(pg_db, lambda: close_concurrently(pg_db, incident_id, city.operator), incident_id)


def test_a_history_import_across_batches_feeds_the_kpis_on_postgres(pg_db, tmp_path):
    with pg_db.uow() as s:
        make_city(s)
    n = BATCH + 250
    rows = [case(f"PG-{i:05d}", closed_at="2024-03-05 10:00" if i % 10 == 0 else "2024-03-02 10:00")
            for i in range(n)]
    rows.append(case("PG-BAD", closed_at="2024-02-01 10:00"))
    report = import_incidents(pg_db, write_csv(tmp_path / "history.csv", rows, COLUMNS))
    assert report.imported == n and [r for r, _ in report.rejected] == [n + 1]
    with pg_db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == n
        assert s.scalar(select(func.count()).select_from(IncidentHistory)) == n
        kpi = kpi_snapshot(s, datetime(2024, 1, 1, tzinfo=ZONE), datetime(2025, 1, 1, tzinfo=ZONE))
    assert (kpi["reported"], kpi["closed"], kpi["closed_on_time"]) == (n, n, n - (n + 9) // 10)
    assert kpi["mean_handle_hours"] == 5.5  # dispatched 09:30, resolved 15:00


def test_the_grouped_kpis_equal_the_scoped_snapshots_and_sqlite_on_postgres(pg_db, db):
    groupings = [(group, NOW, {}) for group in GROUPS]
    groupings += [("grid", NOW, {"district": "D2", "source": "patrol"}),
                  ("department", START + timedelta(days=10), {})]  # as of a moment inside the period
    answers = {}
    for database in (pg_db, db):
        with database.uow() as s:
            city, grids = scoped_city(s)
            s.execute(insert(Incident), scoped_rows(city, grids))
        with database.uow() as s:
            answers[database.engine.dialect.name] = [
                check_groups_match_snapshots(s, group, now=now, **scope) for group, now, scope in groupings
            ] + [kpi_by(s, START, END, "department", now=NOW, all_groups=True)]
    assert answers["postgresql"] == answers["sqlite"]
    assert [d["code"] for d in answers["postgresql"][-1]] == ["gas", "roads", "water"]
