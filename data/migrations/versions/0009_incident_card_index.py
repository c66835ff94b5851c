"""Index incidents by (card, reporting time): the console's queue filtered by card alone (红牌/黄牌, newest
first) read every incident on SQLite — it walked ``ix_incidents_reported_at`` to the oldest row looking
for a page of red cards, 0.74 s at 1,000,000 incidents (bench/RESULTS.md, "City scale (issue 8)"). With
this index it reads only the carded rows, in order.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The index this revision adds (mirrored in data/models.py).
NAME, COLUMNS = "ix_incidents_card_reported", ["card", "reported_at"]


def upgrade() -> None:
    """Add the index."""
    op.create_index(NAME, "incidents", COLUMNS)


def downgrade() -> None:
    """Drop the index."""
    op.drop_index(NAME, table_name="incidents")
