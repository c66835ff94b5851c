"""The audit log is append-only: the database itself refuses to change or delete an audit row.

SQLite: two triggers, ``BEFORE UPDATE`` and ``BEFORE DELETE`` on ``audit_log``, abort the statement.
PostgreSQL: one plpgsql function behind a row trigger (``BEFORE UPDATE OR DELETE``) and a statement
trigger (``BEFORE TRUNCATE``). On both the refusal is an integrity error ("audit_log is append-only").

The one way to remove audit rows is the explicit demo reset (``python app.py seed --reset``, in
``data/demo.py``), which wipes the whole database inside one transaction and then writes a
``demo.reset`` audit row saying how many rows it removed:
- on PostgreSQL it sets the transaction-local ``cityops.audit_wipe`` to ``on`` first; the function
  then lets DELETE and TRUNCATE through for that transaction only (an UPDATE is refused even then);
- on SQLite, which has no session settings a trigger could read, it drops the two triggers, deletes,
  and creates them again from their own stored SQL, in the same transaction (SQLite DDL is
  transactional, so no other connection ever sees the table unguarded).

This guards against the application and casual SQL, not against the database's owner, who can always
drop a trigger. Note for later migrations: a batch (copy-and-move) alteration of ``audit_log`` on
SQLite drops its triggers; such a migration must create them again.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "audit_log is append-only"

SQLITE_TRIGGERS = {
    "audit_log_no_update": "UPDATE",
    "audit_log_no_delete": "DELETE",
}

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('cityops.audit_wipe', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$
"""


def upgrade() -> None:
    """Create the triggers of the dialect in use."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, event in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
    elif dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    """Drop the triggers (and the PostgreSQL function)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
