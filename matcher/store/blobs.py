"""Content-addressed blob store: ``root/ab/cd/<sha256>``, written atomically.

Blobs are written before the rows that point at them (invariant 2): a crash can leave an
unreferenced blob (harmless, collectable) but never a row without its bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from matcher.files import atomic_write


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if not target.is_file():
            atomic_write(target, data)
        return sha

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def count(self) -> int:
        return sum(1 for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")) if self.root.exists() else 0
