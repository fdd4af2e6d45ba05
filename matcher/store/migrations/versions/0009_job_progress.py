"""jobs.progress: how far a running job is ({"done", "total", "stage"}), for a progress bar

Revision ID: 0009
Revises: 0008

One nullable JSON column, nothing else changed; existing jobs have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, never a batch copy (see 0006)
    op.add_column("jobs", sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "progress")
