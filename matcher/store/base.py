"""The declarative base every table registers on, and the clock the tables stamp rows with."""

from __future__ import annotations

import datetime as dt
import struct

from sqlalchemy import LargeBinary
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class PackedTop(TypeDecorator):
    """A best-first list ``[[record_id, score], ...]`` stored as bytes: the ids (little-endian
    int64) then the scores (float64). A cohort list is read and rewritten whenever a new score
    enters it, thousands of times per matching run; packing it costs a small fraction of the
    JSON it replaces (``review.cohorts``)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not value:
            return b""
        ids, scores = zip(*value, strict=True)
        return struct.pack(f"<{len(ids)}q{len(ids)}d", *ids, *scores)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        n = len(value) // 16
        numbers = struct.unpack(f"<{n}q{n}d", value)
        return list(map(list, zip(numbers[:n], numbers[n:], strict=True)))
