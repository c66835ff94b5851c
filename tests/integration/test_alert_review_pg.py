"""Warning statistics on the real PostgreSQL 15 (minutes between two times are computed differently from
SQLite): the same hand-made alerts give the same figures on both, per every group."""

from __future__ import annotations

from alerts.review import GROUPS, warning_stats
from tests.unit.test_alert_review import DAY, make_world, stats_world


def _figures(database) -> dict:
    stats_world(database, make_world(database))
    with database.uow() as s:
        return {group: warning_stats(s, *DAY, group) for group in (None, *GROUPS)}


def test_warning_statistics_on_postgres_equal_those_on_sqlite(pg_db, db):
    on_pg = _figures(pg_db)
    assert on_pg[None]["total"]["mean_review_minutes"] == 50.0 and on_pg[None]["total"]["raised"] == 5
    assert on_pg == _figures(db)
