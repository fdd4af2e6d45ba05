"""A copy of the erasure tombstones kept OUTSIDE the data folder (``MATCHER_ERASURE_LOG``,
default ``DATA_DIR.erasures.jsonl`` beside it), one JSON object a line, append-only.

Why: a backup is a snapshot; a child erased after it would come back when that backup is
restored. ``matcher restore`` re-applies every tombstone of this log that the restored
database lacks. The log holds no names or photos: side, record number, erasure time and
content hashes (what the ``erasures`` table holds). Lines are appended after the erasure
commits; a crash before that is caught up from the table by the start-up sweep
(``protection.fsck.sync_erasure_log``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoggedErasure:
    side: str
    number: str
    erased_at: dt.datetime
    erased_by: str
    media_sha256: tuple[str, ...]
    blob_sha256: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.side, self.number, self.erased_at.isoformat(timespec="microseconds"))

    def as_json(self) -> dict:
        return {
            "side": self.side,
            "number": self.number,
            "erased_at": self.key[2],
            "erased_by": self.erased_by,
            "media_sha256": list(self.media_sha256),
            "blob_sha256": list(self.blob_sha256),
        }

    @classmethod
    def from_json(cls, body: dict) -> LoggedErasure:
        return cls(
            body["side"],
            body["number"],
            dt.datetime.fromisoformat(body["erased_at"]),
            body.get("erased_by", ""),
            tuple(body.get("media_sha256") or ()),
            tuple(body.get("blob_sha256") or ()),
        )


def read(path: Path) -> list[LoggedErasure]:
    """Every logged erasure (a torn last line, from a crash mid-append, is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(LoggedErasure.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def append(path: Path, entries: Iterable[LoggedErasure]) -> int:
    """Append entries (one write, fsynced); the file is created mode 0600."""
    lines = "".join(json.dumps(e.as_json(), sort_keys=True) + "\n" for e in entries)
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_size:
            # a torn last line (crash mid-append) must not swallow the first new one
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    lines = "\n" + lines
        os.write(fd, lines.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return lines.count("\n") - lines.startswith("\n")
