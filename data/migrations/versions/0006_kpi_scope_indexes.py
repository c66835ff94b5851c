"""Indexes for scoped KPI snapshots: incidents by (scope column, reporting time), so that a snapshot
for one department, grid, category or source reads only its scope's part of the period
(bench/RESULTS.md, "KPI engine").

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: name → columns of the incidents indexes this revision adds (mirrored in data/models.py).
INDEXES = {
    "ix_incidents_department_reported": ["department_id", "reported_at"],
    "ix_incidents_grid_reported": ["grid_id", "reported_at"],
    "ix_incidents_category_reported": ["category_code", "reported_at"],
    "ix_incidents_source_reported": ["source", "reported_at"],
}


def upgrade() -> None:
    """Add the indexes."""
    for name, columns in INDEXES.items():
        op.create_index(name, "incidents", columns)


def downgrade() -> None:
    """Drop the indexes."""
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="incidents")
