"""The append-only audit log on the real PostgreSQL: UPDATE, DELETE and TRUNCATE are refused by the
triggers of migration 0005; the explicit wipe of the demo reset goes through in its own transaction only
(and even then never an UPDATE)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from data.db import Database
from data.demo import wipe_audit_log
from data.models import AuditLog

pytestmark = pytest.mark.integration


def _add_rows(db: Database, count: int = 3) -> None:
    with db.uow() as s:
        s.add_all(AuditLog(action=f"test.{i}", target="t") for i in range(count))


def _count(db: Database) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(AuditLog))


def test_the_migration_installs_the_guard(pg_db):
    with pg_db.uow() as s:
        names = set(s.scalars(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
                                   "AND NOT tgisinternal")))
    assert names == {"audit_log_no_update_delete", "audit_log_no_truncate"}


@pytest.mark.parametrize("statement", [
    update(AuditLog).values(action="forged"),
    delete(AuditLog),
    text("TRUNCATE audit_log"),
], ids=["update", "delete", "truncate"])
def test_audit_rows_are_never_changed_or_deleted(pg_db, statement):
    _add_rows(pg_db)
    with pytest.raises(IntegrityError, match="append-only"), pg_db.uow() as s:
        s.execute(statement)
    assert _count(pg_db) == 3


def test_the_wipe_of_the_reset_is_allowed_in_its_own_transaction_only(pg_db):
    _add_rows(pg_db)
    with pg_db.uow() as s:
        assert wipe_audit_log(s) == 3
        s.add(AuditLog(action="demo.reset", target="database"))
        with pytest.raises(IntegrityError, match="append-only"), s.begin_nested():
            s.execute(update(AuditLog).values(action="forged"))  # even now, no rewriting
        with pytest.raises(IntegrityError, match="append-only"), s.begin_nested():
            s.execute(delete(AuditLog))  # the wipe switched its permission off again
    assert _count(pg_db) == 1
    with pytest.raises(IntegrityError, match="append-only"), pg_db.uow() as s:
        s.execute(delete(AuditLog))  # and a later transaction is guarded


def test_a_wipe_rolled_back_deletes_nothing(pg_db):
    _add_rows(pg_db)
    with pytest.raises(RuntimeError), pg_db.uow() as s:
        wipe_audit_log(s)
        raise RuntimeError("the reset failed later on")
    assert _count(pg_db) == 3


def test_the_demo_reset_works_on_postgresql_and_records_the_wipe(pg_db):
    from data.demo import seed_demo_city

    seed_demo_city(pg_db, scale=0.02, seed=5, demo_passwords=False)
    _add_rows(pg_db, 2)
    seed_demo_city(pg_db, scale=0.02, seed=5, reset=True, demo_passwords=False)
    with pg_db.uow() as s:
        [row] = s.scalars(select(AuditLog)).all()
    assert (row.action, row.detail) == ("demo.reset", {"audit_rows_deleted": 2})
