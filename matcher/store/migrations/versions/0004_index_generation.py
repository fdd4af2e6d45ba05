"""index generations: one row per (side, pack) telling every process how far the template
faces have changed, so in-memory FAISS indexes catch up before they search

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_generations",
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_face_id", sa.Integer(), server_default="0", nullable=False),
        sa.Column("removals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changes", sa.JSON(), nullable=True),
        sa.Column("changes_from", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("side", "pack"),
    )
    # a database that already holds faces starts at generation 1 with its largest template
    # face id; later changes count from there
    op.execute(
        "INSERT INTO index_generations (side, pack, generation, max_face_id, removals, changes_from) "
        "SELECT records.side, embeddings.pack, 1, MAX(faces.id), 0, 1 FROM embeddings "
        "JOIN faces ON faces.id = embeddings.face_id JOIN media ON media.id = faces.media_id "
        "JOIN records ON records.id = media.record_id WHERE faces.selected "
        "GROUP BY records.side, embeddings.pack"
    )


def downgrade() -> None:
    op.drop_table("index_generations")
