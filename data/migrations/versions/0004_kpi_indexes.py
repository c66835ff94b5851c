"""Indexes for the KPI engine and the briefing: incidents by closing time (the trend's closed-per-day
and the period's closures); and the grids → users foreign key that PostgreSQL was missing.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the indexes."""
    op.create_index("ix_incidents_closed_at", "incidents", ["closed_at"])
    # 0001 declared grids.worker_id → users.id with use_alter, which CREATE TABLE leaves out: SQLite
    # writes it inline, PostgreSQL never got it. Add it where it is missing.
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key("fk_grids_worker", "grids", "users", ["worker_id"], ["id"])


def downgrade() -> None:
    """Drop the indexes."""
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_grids_worker", "grids", type_="foreignkey")
    op.drop_index("ix_incidents_closed_at", table_name="incidents")
