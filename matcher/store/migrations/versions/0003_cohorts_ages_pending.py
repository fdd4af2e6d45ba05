"""cohorts for score normalisation, age at photo per media, pending-match flag per record,
ranking facts on candidates

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("against", sa.String(length=8), nullable=False),
        sa.Column("top", sa.JSON(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("std", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kth", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "pack", "against", name="uq_cohort"),
    )
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cohorts_record_id"), ["record_id"], unique=False)
    # plain ADD COLUMN, not a batch copy: a copied SQLite table would lose AUTOINCREMENT and
    # ids of erased records could be handed out again
    op.add_column("media", sa.Column("age_at_photo", sa.Float(), nullable=True))
    op.add_column("records", sa.Column("needs_match", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_records_needs_match", "records", ["needs_match"], unique=False)
    op.add_column("candidates", sa.Column("raw_score", sa.Float(), nullable=True))
    op.add_column("candidates", sa.Column("plausible", sa.Boolean(), nullable=True))
    op.add_column("candidates", sa.Column("name_level", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("name_level")
        batch_op.drop_column("plausible")
        batch_op.drop_column("raw_score")
    op.drop_index("ix_records_needs_match", table_name="records")
    with op.batch_alter_table("records", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("needs_match")
    with op.batch_alter_table("media", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("age_at_photo")
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohorts_record_id"))
    op.drop_table("cohorts")
