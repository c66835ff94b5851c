"""Daily KPI rollups (issue 21): ``kpi_daily``, one row of sums per local day (``dispatch.kpi``, "daily
rollups"), and the triggers on ``incidents`` that keep every row true.

A write to an incident (INSERT, UPDATE, DELETE) deletes the rows whose day contains its old or new
``reported_at`` and the rows of the 32 days after (a hotline call makes the calls of the next 30 days
repeat calls); the roll job (``dispatch.kpi_rollup``) writes them again.
- SQLite: three row triggers (``kpi_daily_forget_insert|update|delete``).
- PostgreSQL: one plpgsql function behind three statement triggers with transition tables (one DELETE
  per statement, whatever the rows it wrote: a bulk COPY costs one), and a TRUNCATE trigger.

Note for later migrations: a batch (copy-and-move) alteration of ``incidents`` on SQLite drops these
triggers; such a migration must create them again (``create_sqlite_triggers``). The roll job refuses to
trust the rows while they are missing (``dispatch.kpi_rollup.triggers_present``).

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

T = data.models.UTCDateTime
#: Days after an incident's day whose rows a write to it may change (the repeat calls look back 30 days).
AFTER_DAYS = 32
SQLITE_TRIGGERS = {
    "kpi_daily_forget_insert": ("INSERT", ("NEW",)),
    "kpi_daily_forget_update": ("UPDATE", ("OLD", "NEW")),
    "kpi_daily_forget_delete": ("DELETE", ("OLD",)),
}
PG_TRIGGERS = {
    "kpi_daily_forget_insert": "AFTER INSERT ON incidents REFERENCING NEW TABLE AS new_rows",
    "kpi_daily_forget_update": "AFTER UPDATE ON incidents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "kpi_daily_forget_delete": "AFTER DELETE ON incidents REFERENCING OLD TABLE AS old_rows",
}
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION kpi_daily_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM kpi_daily;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM kpi_daily k USING (SELECT DISTINCT date_trunc('day', reported_at) AS d FROM old_rows) o
         WHERE k.day_end > o.d AND k.day_start < o.d + interval '{AFTER_DAYS + 1} days';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        DELETE FROM kpi_daily k USING (SELECT DISTINCT date_trunc('day', reported_at) AS d FROM new_rows) n
         WHERE k.day_end > n.d AND k.day_start < n.d + interval '{AFTER_DAYS + 1} days';
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608  (constants only)


def create_sqlite_triggers() -> None:
    """The SQLite row triggers (stored timestamps are ISO text in one format: text order is time order)."""
    for name, (event, rows) in SQLITE_TRIGGERS.items():
        deletes = " ".join(
            f"DELETE FROM kpi_daily WHERE day_end > {row}.reported_at "  # noqa: S608  (constants only)
            f"AND day_start <= datetime({row}.reported_at, '+{AFTER_DAYS} days');" for row in rows)
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON incidents FOR EACH ROW BEGIN {deletes} END")


def upgrade() -> None:
    """Create the table and the triggers of the dialect in use."""
    op.create_table(
        "kpi_daily",
        sa.Column("day_start", T(), primary_key=True),
        sa.Column("day_end", T(), primary_key=True),
        sa.Column("rolled_at", T(), nullable=False),
        sa.Column("max_time", T(), nullable=True),
        sa.Column("calendar_key", sa.String(64), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        create_sqlite_triggers()
    elif dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION kpi_daily_forget()")
        op.execute("CREATE TRIGGER kpi_daily_forget_truncate AFTER TRUNCATE ON incidents "
                   "FOR EACH STATEMENT EXECUTE FUNCTION kpi_daily_forget()")


def downgrade() -> None:
    """Drop the triggers (and the PostgreSQL function) and the table."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for name in (*PG_TRIGGERS, "kpi_daily_forget_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON incidents")
        op.execute("DROP FUNCTION IF EXISTS kpi_daily_forget()")
    op.drop_table("kpi_daily")
