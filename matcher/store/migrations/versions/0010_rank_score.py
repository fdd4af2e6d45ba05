"""rank score: candidates.rank_score (what orders one report's list), each record's rank
cohort beside its S-norm cohort, and a report's list floor

Revision ID: 0010
Revises: 0009

Plain ADD COLUMNs, never a batch copy (see 0006). Existing candidates get their stored
score as rank score; the first matching run after the upgrade finds the calibration row
without a rank cohort size and refreshes every cohort, then re-ranks every open report's
list (``review.relist``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("rank_score", sa.Float(), nullable=True))
    op.execute("UPDATE candidates SET rank_score = score")
    op.add_column("cohorts", sa.Column("rank_mean", sa.Float(), nullable=True))
    op.add_column("cohorts", sa.Column("rank_std", sa.Float(), nullable=True))
    op.add_column("cohorts", sa.Column("rank_n", sa.Integer(), nullable=True))
    op.add_column("cohorts", sa.Column("floor", sa.Float(), nullable=True))


def downgrade() -> None:
    for column in ("floor", "rank_n", "rank_std", "rank_mean"):
        op.drop_column("cohorts", column)
    op.drop_column("candidates", "rank_score")
