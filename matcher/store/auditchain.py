"""The audit log's hash chain: pure functions, no database.

Each audit row carries ``prev_hash`` (the previous row's ``hash``; 64 zeros for the first)
and ``hash`` = sha256 over a canonical encoding of the row: JSON with sorted keys, no
spaces, of its fields and ``prev_hash``. Editing a row changes its hash; deleting one breaks
the next row's link; deleting the newest rows leaves the chain head (``audit_chain``: the
last hash and the row count) pointing past the end. Rows are written only through
``matcher.store.repo.audit``, which serialises writers on the head row.

What it does not stop: someone with write access to the database who recomputes every
hash after the row they changed, and the head. Against that, keep the head hash elsewhere:
``matcher audit verify`` prints it and every backup manifest records it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64
FIELDS = ("at", "actor", "role", "action", "object_type", "object_id", "request_id", "details")


def canonical(fields: dict, prev_hash: str) -> bytes:
    """The bytes a row's hash is taken over (version 1 of the encoding: never change it)."""
    at = fields["at"]
    body = {k: fields.get(k) for k in FIELDS}
    body["at"] = at.isoformat(timespec="microseconds") if isinstance(at, dt.datetime) else str(at)
    body["details"] = fields.get("details") or {}
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode()


def row_hash(fields: dict, prev_hash: str) -> str:
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def normalise_details(details: dict) -> dict:
    """``details`` exactly as the JSON column will give it back (tuples become lists, keys
    strings), so the hash taken before the write matches the row read after it."""
    return json.loads(json.dumps(details))


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    head: str  # the last verified hash (the chain head when ok)
    broken_id: int | None = None  # the first row that does not verify
    reason: str | None = None
    last_id: int = 0  # the newest verified row (ok reports)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "head": self.head, "broken_id": self.broken_id, "reason": self.reason}

    def line(self) -> str:
        if self.ok:
            return f"chain verified ({self.rows} rows, head {self.head[:16]}…)"
        return f"chain BROKEN at row #{self.broken_id}: {self.reason}"


def verify(
    rows: Iterable[tuple[int, dict, str | None, str | None]], head: tuple[str, int] | None, start: tuple[str, int, int] = (GENESIS, 0, 0)
) -> ChainReport:
    """Walk rows in id order: ``(id, fields, prev_hash, hash)``; ``head`` = (hash, rows) of
    the chain head, None when the table holding it has no row. Stops at the first break.
    ``start`` = (hash, rows, last id) of a prefix already verified, when ``rows`` are the
    rows after it."""
    prev, n, last_id = start
    for row_id, fields, prev_hash, stored in rows:
        if stored is None or prev_hash is None:
            return ChainReport(False, n, prev, row_id, "the row carries no hash (written around the audit function)")
        if row_hash(fields, prev_hash) != stored:
            return ChainReport(False, n, prev, row_id, "the row's content does not match its hash (it was edited)")
        if prev_hash != prev:
            what = "the first row does not start the chain" if n == 0 else f"it does not link to row #{last_id}"
            return ChainReport(False, n, prev, row_id, f"{what} (a row before it was deleted or edited)")
        prev, n, last_id = stored, n + 1, row_id
    if head is None:
        return ChainReport(False, n, prev, None, "the chain head is missing")
    head_hash, head_rows = head
    if head_hash != prev or head_rows != n:
        return ChainReport(
            False, n, prev, last_id + 1, f"the chain head expects {head_rows} rows ending in {head_hash[:16]}…; the newest rows were deleted or edited"
        )
    return ChainReport(True, n, prev, last_id=last_id)
