"""data protection: audit hash chain (prev_hash, hash, chain head), blob list on erasure
tombstones, retention purge time on media

Revision ID: 0006
Revises: 0005

Existing audit rows are chained here, in id order, with the same encoding as new rows
(``matcher.store.auditchain``, version 1), so an upgraded database verifies.
"""

import sqlalchemy as sa
from alembic import op

from matcher.store import auditchain

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    *(sa.column(name, sa.DateTime if name == "at" else sa.JSON if name == "details" else sa.String) for name in auditchain.FIELDS),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    # plain ADD COLUMN, never a batch copy (a copied SQLite table loses AUTOINCREMENT)
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(length=64), nullable=True))
    op.add_column("erasures", sa.Column("blob_sha256", sa.JSON(), nullable=True))
    op.add_column("media", sa.Column("purged_at", sa.DateTime(), nullable=True))
    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    prev, n, batch = auditchain.GENESIS, 0, []
    rows = bind.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).mappings().all()
    for row in rows:
        fields = {k: row[k] for k in auditchain.FIELDS}
        fields["details"] = row["details"] or {}
        h = auditchain.row_hash(fields, prev)
        batch.append({"row_id": row["id"], "p": prev, "h": h})
        prev, n = h, n + 1
    if batch:
        bind.execute(
            sa.update(EVENTS).where(EVENTS.c.id == sa.bindparam("row_id")).values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
            batch,
        )
    op.bulk_insert(chain, [{"id": 1, "hash": prev, "rows": n}])


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_column("media", "purged_at")
    op.drop_column("erasures", "blob_sha256")
    op.drop_column("audit_events", "hash")
    op.drop_column("audit_events", "prev_hash")
