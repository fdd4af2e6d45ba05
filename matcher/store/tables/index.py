"""How far each index's template faces have changed (read by every process before it searches)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from matcher.store.base import Base


class IndexGeneration(Base):
    """How far the template faces of one (side, pack) have changed (``store.index_state``):
    every process compares this row with what its in-memory FAISS index was built from
    before it searches or matches (``index.manager``). Bumped in the transaction that
    changes the faces: ``generation`` on every change, ``max_face_id`` when faces are
    appended, ``removals`` on any change that is not a plain append (erasure, a family
    picking another face)."""

    __tablename__ = "index_generations"

    side: Mapped[str] = mapped_column(String(8), primary_key=True)  # Side
    pack: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    max_face_id: Mapped[int] = mapped_column(Integer, default=0)
    removals: Mapped[int] = mapped_column(Integer, default=0)
    # the latest non-append changes, oldest first: [{"g": generation, "removed": [face ids],
    # "added": [face ids]}]; complete for every generation above ``changes_from``
    changes: Mapped[list | None] = mapped_column(JSON)
    changes_from: Mapped[int] = mapped_column(Integer, default=0)
