"""Queries and writes over a Session. No commits here: the caller owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session

from matcher.store import auditchain
from matcher.store.tables import AuditChain, AuditEvent, Embedding, Erasure, Face, Media, Record, utcnow
from matcher.types import Side
from matcher.vectors import stack_bytes

RECORD_FIELDS = ("name", "sex", "birth_year", "birth_date", "shelter", "event_on", "event_at", "languages", "notes", "contact")


@dataclass(frozen=True)
class FaceHit:
    face_id: int
    record_id: int
    external_id: str
    media_id: int
    media_sha256: str


def get_record(session: Session, side: str, external_id: str) -> Record | None:
    return session.scalar(select(Record).where(Record.side == side, Record.external_id == external_id))


def upsert_record(session: Session, side: str, external_id: str, fields: dict) -> Record:
    """The record with this number on this side, created if new; given fields fill empty ones."""
    if side not in tuple(Side):
        raise ValueError(f"side must be one of {', '.join(Side)}")
    record = get_record(session, side, external_id)
    if record is None:
        record = Record(side=side, external_id=external_id, **{k: v for k, v in fields.items() if k in RECORD_FIELDS})
        session.add(record)
        session.flush()
        return record
    for key, value in fields.items():
        if key in RECORD_FIELDS and value is not None and getattr(record, key) is None:
            setattr(record, key, value)
    return record


def known_media(session: Session, side: str, external_id: str) -> set[str]:
    """sha256 of the media already stored for one record."""
    rows = session.scalars(select(Media.sha256).join(Record).where(Record.side == side, Record.external_id == external_id))
    return set(rows)


def known_media_by_record(session: Session, side: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for external_id, sha in session.execute(select(Record.external_id, Media.sha256).join(Media).where(Record.side == side)):
        out.setdefault(external_id, set()).add(sha)
    return out


def erased_media_by_record(session: Session, side: str) -> dict[str, set[str]]:
    """sha256 of the media of erased records, by record number (from the tombstones)."""
    out: dict[str, set[str]] = {}
    for external_id, hashes in session.execute(select(Erasure.external_id, Erasure.media_sha256).where(Erasure.side == side)):
        out.setdefault(external_id, set()).update(hashes or ())
    return out


def side_embeddings(session: Session, side: str, pack: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, vectors) of the template faces (``selected``) of one side and pack, by face id.

    Only template faces are searchable: a bystander in a child's photo must not be
    attributed to that child's record.
    """
    rows = session.execute(
        select(Embedding.face_id, Embedding.vector)
        .join(Face, Face.id == Embedding.face_id)
        .join(Media, Media.id == Face.media_id)
        .join(Record, Record.id == Media.record_id)
        .where(Record.side == side, Embedding.pack == pack, Face.selected.is_(True))
        .order_by(Embedding.face_id)
    ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, stack_bytes((r[1] for r in rows), dim)


def side_face_ids(session: Session, side: str, pack: str) -> np.ndarray:
    rows = session.scalars(
        select(Embedding.face_id)
        .join(Face, Face.id == Embedding.face_id)
        .join(Media, Media.id == Face.media_id)
        .join(Record, Record.id == Media.record_id)
        .where(Record.side == side, Embedding.pack == pack, Face.selected.is_(True))
    ).all()
    return np.asarray(rows, dtype=np.int64)


def face_hits(session: Session, face_ids: Iterable[int]) -> dict[int, FaceHit]:
    ids = list({int(i) for i in face_ids})
    if not ids:
        return {}
    rows = session.execute(
        select(Face.id, Record.id, Record.external_id, Media.id, Media.sha256)
        .join(Media, Media.id == Face.media_id)
        .join(Record, Record.id == Media.record_id)
        .where(Face.id.in_(ids))
    )
    return {r[0]: FaceHit(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def audit(
    session: Session, actor: str, role: str, action: str, object_type: str | None = None, object_id: str | None = None, request_id: str | None = None, **details
) -> None:
    """Record one audit event: the only way audit rows are written. The row itself is
    written when the transaction commits (``_write_audit_chain``), chained to the row
    before it (``store.auditchain``); a transaction that rolls back leaves none."""
    fields = {
        "at": utcnow(),
        "actor": str(actor),
        "role": str(role),
        "action": str(action),
        "object_type": None if object_type is None else str(object_type),
        "object_id": None if object_id is None else str(object_id),
        "request_id": request_id,
        "details": auditchain.normalise_details(details),
    }
    session.info.setdefault(_AUDIT_PENDING, []).append(fields)


_AUDIT_PENDING = "matcher_audit_pending"


@event.listens_for(Session, "before_commit")
def _write_audit_chain(session: Session) -> None:
    """At commit: everything else is flushed first, then the chain head (``audit_chain``) is
    locked — a row lock on PostgreSQL, the write lock on SQLite — and only then is the last
    hash read and this transaction's rows chained to it. Two transactions therefore never
    chain to the same row, rows are numbered in chain order, and the head is the last lock a
    transaction takes and holds it only until its commit (no lock-order deadlock with it)."""
    pending = session.info.pop(_AUDIT_PENDING, None)
    if not pending:
        return
    session.flush()
    connection = session.connection()
    head = AuditChain.__table__
    prev = connection.execute(update(head).where(head.c.id == 1).values(rows=head.c.rows).returning(head.c.hash)).scalar()
    if prev is None:  # head row missing (deleted by hand): restart it; verify reports the break
        connection.execute(head.insert().values(id=1, hash=auditchain.GENESIS, rows=0))
        prev = auditchain.GENESIS
    rows = []
    for fields in pending:
        digest = auditchain.row_hash(fields, prev)
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(AuditEvent), rows)  # one executemany, in chain order (ids follow it)
    connection.execute(update(head).where(head.c.id == 1).values(hash=prev, rows=head.c.rows + len(pending)))


@event.listens_for(Session, "after_transaction_end")
def _drop_unwritten_audit(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit
        session.info.pop(_AUDIT_PENDING, None)


def counts(session: Session) -> dict:
    out: dict = {}
    for side in Side:
        records = session.scalar(select(func.count()).select_from(Record).where(Record.side == side))
        media = session.scalar(select(func.count()).select_from(Media).join(Record).where(Record.side == side))
        faces = session.scalar(select(func.count()).select_from(Face).join(Media).join(Record).where(Record.side == side))
        packs = dict(
            session.execute(
                select(Embedding.pack, func.count())
                .join(Face, Face.id == Embedding.face_id)
                .join(Media, Media.id == Face.media_id)
                .join(Record, Record.id == Media.record_id)
                .where(Record.side == side)
                .group_by(Embedding.pack)
            ).all()
        )
        out[side] = {"records": records, "media": media, "faces": faces, "embeddings_by_pack": packs}
    return out


def parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(value.strip())
