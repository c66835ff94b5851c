"""The big screen at province scale (issue 21): partial indexes on the incidents the live map shows, and
change counters that tell the 5-s refresh, exactly and cheaply, whether anything it caches may have changed.

- ``ix_incidents_open_grid`` (state, grid_id, card) over the unfinished, unmerged incidents
  (``data.layers.MAP_OPEN_STATES``) and ``ix_incidents_open_reported`` (state, reported_at, id, grid_id, lon) over
  those of them that have a place: covering indexes of the open rows only, so the grids' open and carded
  counts and the incident list's newest 20 read a few thousand index entries, however many closed incidents
  the table holds. SQLite uses a partial index only for a query that repeats its terms with literal values
  (``data.layers`` writes the states inline), and, without statistics, prefers it to
  ``ix_incidents_state_card`` only because it starts with ``state`` too and covers the query.
- ``screen_counters`` (name → value): ``writes``, bumped by triggers on every INSERT, UPDATE and DELETE of
  the tables the screen's kept figures read (incidents, joint tasks, the working calendar, areas, grids) — by
  any writer, in any process, in the same transaction as the change, so a reader that reads the counters
  first never keeps older data under a newer value — and ``epoch``, a random number that tells this database
  from one made anew at the same place. SQLite: row triggers (one writer at a time). PostgreSQL: deferred
  constraint triggers that bump the counter once per transaction at commit (one row, locked only while
  committing and after every other lock of the transaction, so writers never deadlock on it), and TRUNCATE
  triggers.

Note for later migrations: a batch (copy-and-move) alteration of ``incidents`` on SQLite drops these
triggers and the partial indexes; such a migration must create them again (``create_sqlite_objects``).

Revision ID: 0030
Revises: 0029
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

#: ``data.layers.MAP_OPEN_STATES`` as of this migration (a test checks they are the same).
OPEN_STATES = ("reported", "dispatched", "filed", "in_progress", "resolved")
OPEN = "state IN ({}) AND merged_into_id IS NULL".format(", ".join(f"'{s}'" for s in OPEN_STATES))
ON_MAP = f"{OPEN} AND lon IS NOT NULL"
#: index → (columns, condition).
INDEXES = {"ix_incidents_open_grid": (("state", "grid_id", "card"), OPEN),
           "ix_incidents_open_reported": (("state", "reported_at", "id", "grid_id", "lon"), ON_MAP)}
#: The tables whose writes bump the counter ``writes``.
COUNTED = ("incidents", "joint_tasks", "work_periods", "calendar_days", "areas", "grids")
COUNTER = "writes"
EVENTS = ("INSERT", "UPDATE", "DELETE")
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION screen_counters_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'cityops.screen_bumped_' || TG_ARGV[0];
BEGIN
    IF TG_OP = 'TRUNCATE' OR current_setting(flag, true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE screen_counters SET value = value + 1 WHERE name = TG_ARGV[0];
        PERFORM set_config(flag, txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$
"""


def create_sqlite_objects() -> None:
    """The partial indexes and the SQLite row triggers."""
    for name, (columns, where) in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON incidents ({', '.join(columns)}) WHERE {where}")
    for table in COUNTED:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER IF NOT EXISTS screen_counters_{table}_{event.lower()} AFTER {event} ON {table} "
                       f"FOR EACH ROW BEGIN UPDATE screen_counters SET value = value + 1 WHERE name = '{COUNTER}'; END")


def upgrade() -> None:
    """Create the counters, the partial indexes and the triggers of the dialect in use."""
    counters = op.create_table(
        "screen_counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    # ``epoch``: this database's own random number, so that a database made anew where another was (the same
    # URL, counters from 0 again) never matches what a process kept of the other
    op.bulk_insert(counters, [{"name": COUNTER, "value": 0}, {"name": "epoch", "value": secrets.randbits(62)}])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        create_sqlite_objects()
        return
    for name, (columns, where) in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON incidents ({', '.join(columns)}) WHERE {where}")
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in COUNTED:
            op.execute(f"CREATE CONSTRAINT TRIGGER screen_counters_{table} AFTER INSERT OR UPDATE OR DELETE "
                       f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       f"EXECUTE FUNCTION screen_counters_bump('{COUNTER}')")
            op.execute(f"CREATE TRIGGER screen_counters_{table}_truncate AFTER TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION screen_counters_bump('{COUNTER}')")


def downgrade() -> None:
    """Drop the triggers (and the PostgreSQL function), the indexes and the counters."""
    dialect = op.get_bind().dialect.name
    for table in COUNTED:
        if dialect == "sqlite":
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS screen_counters_{table}_{event.lower()}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS screen_counters_{table} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS screen_counters_{table}_truncate ON {table}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS screen_counters_bump()")
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("screen_counters")
