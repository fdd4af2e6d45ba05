"""rank score: candidates.rank_score (what orders one report's list); the cohorts table
rebuilt with each record's rank cohort beside its S-norm cohort, a report's list floor, and
the best-first list packed as bytes instead of JSON

Revision ID: 0010
Revises: 0009

``candidates`` gets a plain ADD COLUMN (never a batch copy, see 0006); existing candidates get
their stored score as rank score. ``cohorts`` (a derived cache with no AUTOINCREMENT and
nothing pointing at it) is read, dropped and created again with its lists converted; the
first matching run after the upgrade finds the calibration row without a rank cohort size and
refreshes every cohort, then re-ranks every open report's list (``review.runs``).
"""

import json
import struct

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("id", "record_id", "pack", "against", "top", "mean", "std", "n", "kth", "updated_at")


def _pack(top) -> bytes:
    pairs = json.loads(top) if isinstance(top, str) else (top or [])
    n = len(pairs)
    return struct.pack(f"<{n}q{n}d", *(int(r) for r, _ in pairs), *(float(s) for _, s in pairs))


def _unpack(blob: bytes) -> list:
    n = len(blob) // 16
    numbers = struct.unpack(f"<{n}q{n}d", blob)
    return [[numbers[i], numbers[n + i]] for i in range(n)]


def _create(top_type, with_rank: bool) -> None:
    extra = [sa.Column(c, sa.Float(), nullable=True) for c in ("rank_mean", "rank_std")] if with_rank else []
    extra += [sa.Column("rank_n", sa.Integer(), nullable=True), sa.Column("floor", sa.Float(), nullable=True)] if with_rank else []
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("against", sa.String(length=8), nullable=False),
        sa.Column("top", top_type, nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("std", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kth", sa.Float(), nullable=False),
        *extra,
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "pack", "against", name="uq_cohort"),
    )
    op.create_index("ix_cohorts_record_id", "cohorts", ["record_id"], unique=False)


def _rebuild(top_type, with_rank: bool, convert) -> None:
    bind = op.get_bind()
    rows = [dict(r._mapping) for r in bind.execute(sa.text(f"SELECT {', '.join(COLUMNS)} FROM cohorts"))]
    op.drop_index("ix_cohorts_record_id", table_name="cohorts")
    op.drop_table("cohorts")
    _create(top_type, with_rank)
    table = sa.table("cohorts", *(sa.column(c) for c in COLUMNS))
    for start in range(0, len(rows), 1000):
        chunk = [{**r, "top": convert(r["top"])} for r in rows[start : start + 1000]]
        if chunk:
            bind.execute(sa.insert(table), chunk)


def upgrade() -> None:
    op.add_column("candidates", sa.Column("rank_score", sa.Float(), nullable=True))
    op.execute("UPDATE candidates SET rank_score = score")
    _rebuild(sa.LargeBinary(), True, _pack)


def downgrade() -> None:
    _rebuild(sa.JSON(), False, lambda blob: json.dumps(_unpack(blob)))
    op.drop_column("candidates", "rank_score")
