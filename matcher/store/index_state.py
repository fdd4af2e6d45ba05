"""How far the template faces of one (side, pack) have changed: the ``index_generations`` row.

Every process keeps its own FAISS index in memory (``index.manager``); the database is the
one truth. A transaction that changes template faces bumps the row of their (side, pack)
in the same transaction, so a reader that sees the new row also sees the new faces:

* ``generation`` grows with every change;
* ``max_face_id`` is the largest template face id ever appended;
* ``removals`` grows with every change that is not a plain append (erasure, a family
  picking another face of a photo), and ``changes`` keeps the face ids of the latest of
  those (removed, and re-selected older faces) so a reader can apply them without
  comparing every id; ``changes_from`` says from which generation that tail is complete.

A reader compares the row with the one its index was last brought up to: equal → current;
only ``generation``/``max_face_id`` moved → load the template faces with a larger id;
``removals`` moved → apply the tail of ``changes``, or compare the id sets in full when the
tail no longer reaches back far enough (or anything went backwards, e.g. a restored backup).

Why "a larger id" finds every appended face: ``bump`` is called at the *start* of an
appending transaction, before its face rows get ids. Its UPDATE takes the row's lock
(PostgreSQL: row lock until commit; SQLite: one writer at a time), so appending
transactions of one (side, pack) allocate face ids in commit order and a face committed
after a reader's snapshot always has an id above that snapshot's ``max_face_id``.
Removals and picks bump it first too, before they touch face or record rows: one lock
order for every writer of template faces, so two of them never deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from matcher.store.tables import Embedding, Face, IndexGeneration, Media, Record
from matcher.vectors import stack_bytes

_TABLE = IndexGeneration.__table__
_IN_CHUNK = 500  # ids per IN (...) list
KEEP_CHANGES = 256  # non-append changes whose face ids the row keeps
KEEP_CHANGE_IDS = 50_000  # ... and at most this many ids in all


@dataclass(frozen=True)
class IndexState:
    generation: int = 0
    max_face_id: int = 0
    removals: int = 0


def read(session: Session, side: str, pack: str) -> IndexState:
    """The row of (side, pack); all zeros when no change was ever recorded. One small query."""
    row = session.execute(select(_TABLE.c.generation, _TABLE.c.max_face_id, _TABLE.c.removals).where(_TABLE.c.side == side, _TABLE.c.pack == pack)).first()
    return IndexState(*row) if row is not None else IndexState()


def bump(
    session: Session, side: str, pack: str, *, max_face_id: int | None = None, removed: Iterable[int] = (), added: Iterable[int] = (), removal: bool = False
) -> None:
    """Record a change of (side, pack)'s template faces in the caller's transaction.

    Appends: call it before the transaction creates face rows (it takes the row's lock,
    see the module docstring), and again with ``max_face_id`` once their ids are known.
    Anything else: give the face ids that stopped being templates (``removed``) and older
    faces that became templates again (``added``); ``removal=True`` with neither says
    "something changed, compare in full"."""
    removed, added = sorted({int(i) for i in removed}), sorted({int(i) for i in added})
    values: dict = {"generation": _TABLE.c.generation + 1}
    if max_face_id is not None:
        values["max_face_id"] = case((_TABLE.c.max_face_id < int(max_face_id), int(max_face_id)), else_=_TABLE.c.max_face_id)
    changed = removal or bool(removed) or bool(added)
    if changed:
        values["removals"] = _TABLE.c.removals + 1
    where = (_TABLE.c.side == side) & (_TABLE.c.pack == pack)
    if session.execute(update(_TABLE).where(where).values(**values)).rowcount == 0:
        _insert_missing(session, side, pack)
        session.execute(update(_TABLE).where(where).values(**values))
    if changed:  # the row is locked by now: read, extend and write its tail of changes
        generation, changes, since = session.execute(select(_TABLE.c.generation, _TABLE.c.changes, _TABLE.c.changes_from).where(where)).one()
        changes = [*(changes or []), {"g": generation, "removed": removed, "added": added}]
        if removal and not (removed or added):  # ids unknown: readers must compare in full
            changes, since = [], generation
        while changes and (len(changes) > KEEP_CHANGES or sum(len(c["removed"]) + len(c["added"]) for c in changes) > KEEP_CHANGE_IDS):
            since = changes.pop(0)["g"]
        session.execute(update(_TABLE).where(where).values(changes=changes, changes_from=since))


def bump_removals(session: Session, side: str, packs: Iterable[str], face_ids: Iterable[int]) -> None:
    """Faces of ``side`` were removed (erasure): record it on every pack's row of that side,
    creating the rows of ``packs`` if missing. Lock order: call before deleting rows."""
    face_ids = list(face_ids)
    existing = session.scalars(select(_TABLE.c.pack).where(_TABLE.c.side == side)).all()
    for pack in sorted({*packs, *existing}):
        bump(session, side, pack, removed=face_ids)


def changes_since(session: Session, side: str, pack: str, generation: int) -> tuple[set[int], set[int]] | None:
    """Net (removed, re-added) face ids of the non-append changes after ``generation``, in
    order; ``None`` when the row's tail does not reach back that far."""
    row = session.execute(select(_TABLE.c.changes, _TABLE.c.changes_from).where(_TABLE.c.side == side, _TABLE.c.pack == pack)).first()
    if row is None or row[1] > generation:
        return None
    removed: set[int] = set()
    added: set[int] = set()
    for change in row[0] or []:
        if change["g"] <= generation:
            continue
        removed.update(change["removed"])
        added.difference_update(change["removed"])
        added.update(change["added"])
        removed.difference_update(change["added"])
    return removed, added


def _insert_missing(session: Session, side: str, pack: str) -> None:
    """Insert the zero row, tolerating another transaction inserting it at the same time."""
    dialect = session.get_bind().dialect.name
    values = {"side": side, "pack": pack, "generation": 0, "max_face_id": 0, "removals": 0, "changes": [], "changes_from": 0}
    if dialect == "postgresql":
        insert = pg_insert
    elif dialect == "sqlite":
        insert = sqlite_insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        session.execute(_TABLE.insert().values(**values))
        return
    session.execute(insert(_TABLE).values(**values).on_conflict_do_nothing())


def face_ids_after(session: Session, after: int) -> np.ndarray:
    """Ids of all faces (any side, template or not) above ``after``: a range of the primary key."""
    return np.asarray(session.scalars(select(Face.id).where(Face.id > after).order_by(Face.id)).all(), dtype=np.int64)


def template_vectors(session: Session, side: str, pack: str, dim: int, face_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, vectors) of those of ``face_ids`` that are template faces of (side, pack), by id."""
    ids = sorted({int(i) for i in face_ids})
    found: list = []
    for start in range(0, len(ids), _IN_CHUNK):
        found += session.execute(
            select(Face.id, Embedding.vector)
            .join(Embedding, Embedding.face_id == Face.id)
            .join(Media, Media.id == Face.media_id)
            .join(Record, Record.id == Media.record_id)
            .where(Face.id.in_(ids[start : start + _IN_CHUNK]), Record.side == side, Embedding.pack == pack, Face.selected.is_(True))
        ).all()
    found.sort()
    if not found:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return np.array([f for f, _ in found], np.int64), stack_bytes((v for _, v in found), dim)
