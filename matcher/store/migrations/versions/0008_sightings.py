"""sightings: faces in swept footage or field photos that match an open record

Revision ID: 0008
Revises: 0007

Four new tables, nothing changed in existing ones: ``sighting_sources`` (one swept file
kept as a blob while a sighting uses it), ``sightings`` (a reviewable lead: a record seen
in a source, with the time span, scores and status), ``sighting_faces`` (the crops of the
best frames) and ``sighting_decisions`` (reviewers' verdicts).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sighting_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("taken_on", sa.Date(), nullable=True),
        sa.Column("place", sa.String(length=256), nullable=True),
        sa.Column("swept_by", sa.String(length=128), nullable=False),
        sa.Column("swept_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", name="uq_sighting_source_sha"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("span_start", sa.Float(), nullable=True),
        sa.Column("span_end", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("raw_score", sa.Float(), nullable=False),
        sa.Column("fmr", sa.Float(), nullable=True),
        sa.Column("fpir", sa.Float(), nullable=True),
        sa.Column("plausible", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("swept_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sighting_sources.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_sha256", "record_id", name="uq_sighting_source_record"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sightings_source_id", "sightings", ["source_id"], unique=False)
    op.create_index("ix_sightings_record_id", "sightings", ["record_id"], unique=False)
    op.create_index("ix_sightings_status", "sightings", ["status"], unique=False)
    op.create_table(
        "sighting_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("frame_time", sa.Float(), nullable=True),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("crop_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["sighting_id"], ["sightings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sighting_faces_sighting_id", "sighting_faces", ["sighting_id"], unique=False)
    op.create_table(
        "sighting_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sighting_id"], ["sightings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sighting_decisions_sighting_id", "sighting_decisions", ["sighting_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sighting_decisions_sighting_id", table_name="sighting_decisions")
    op.drop_table("sighting_decisions")
    op.drop_index("ix_sighting_faces_sighting_id", table_name="sighting_faces")
    op.drop_table("sighting_faces")
    op.drop_index("ix_sightings_status", table_name="sightings")
    op.drop_index("ix_sightings_record_id", table_name="sightings")
    op.drop_index("ix_sightings_source_id", table_name="sightings")
    op.drop_table("sightings")
    op.drop_table("sighting_sources")
