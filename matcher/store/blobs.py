"""Content-addressed blob store: ``root/ab/cd/<sha256>``, written atomically, sealed.

Blobs are written before the rows that point at them (invariant 2, docs/architecture.md): a crash can leave an
unreferenced blob (harmless, collectable by ``matcher fsck``) but never a row without its
bytes. The address is the sha256 of the *plaintext*; with a key file the bytes on disk are
AES-GCM sealed (``matcher.store.crypto``), bound to that address. Clear-text blobs (a data
folder from before encryption, or ``MATCHER_ENCRYPT_BLOBS=false``) are still read, checked
against their address; ``reseal`` converts them.

``put`` of bytes already stored refreshes the file's modification time: a clean-up that
spares recently written blobs (``matcher fsck``) then also spares one an upload in flight
is about to point at.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from matcher.errors import BlobIntegrityError, BlobMissingError
from matcher.files import atomic_write
from matcher.store.crypto import PREFIX_BYTES, KeyFile, open_sealed, seal, sealed_key_id

HEX = frozenset("0123456789abcdef")
SEALED_MARKER = ".sealed"  # present while every blob is known to be sealed


def is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in HEX for c in name)


class BlobStore:
    def __init__(self, root: Path, keys: KeyFile | None = None, encrypt: bool = True) -> None:
        """``keys``: the key file (None: no encryption, and sealed blobs cannot be read);
        ``encrypt``: seal new blobs (reading sealed ones only needs ``keys``)."""
        self.root = root
        self.keys = keys
        self.encrypt = encrypt and keys is not None
        self._marker_cleared = False

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    # ---- bytes in and out ----
    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        try:
            os.utime(target)  # already stored: mark it as in use now
        except FileNotFoundError:
            atomic_write(target, self._encode(data, sha))
            if not self.encrypt and not self._marker_cleared:
                (self.root / SEALED_MARKER).unlink(missing_ok=True)  # a clear blob now exists
                self._marker_cleared = True
        return sha

    def get(self, sha256: str) -> bytes:
        try:
            raw = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobMissingError(f"blob {sha256[:12]}… is not in the blob store") from None
        return self._decode(raw, sha256)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def _encode(self, data: bytes, sha: str) -> bytes:
        return seal(data, sha, self.keys.ring().active_key) if self.encrypt else data

    def _decode(self, raw: bytes, sha: str) -> bytes:
        kid = sealed_key_id(raw)
        if kid is not None:
            if self.keys is None:
                raise BlobIntegrityError(f"blob {sha[:12]}… is encrypted and no data key file is configured")
            try:
                return open_sealed(raw, sha, self.keys.ring().key(kid))
            except BlobIntegrityError:
                if hashlib.sha256(raw).hexdigest() == sha:  # clear bytes that happen to look sealed
                    return raw
                raise
        if hashlib.sha256(raw).hexdigest() != sha:
            raise BlobIntegrityError(f"blob {sha[:12]}… does not match its address: it was altered or truncated")
        return raw

    # ---- what maintenance needs (fsck, key rotation, backup) ----
    def key_id(self, sha256: str) -> str | None:
        """The key id a blob is sealed with, None for a clear-text blob."""
        with self.path(sha256).open("rb") as fh:
            return sealed_key_id(fh.read(PREFIX_BYTES + 16))

    def reseal(self, sha256: str) -> bool:
        """Re-write one blob sealed with the active key (clear-text or older key -> active).
        Returns whether it was re-written. The file keeps its modification time (a reseal
        is not a use). A blob deleted meanwhile is not brought back unless the delete falls
        between the read and the rename (fsck's tombstone sweep removes it again)."""
        if not self.encrypt:
            raise ValueError("encryption is off: nothing to seal with")
        target = self.path(sha256)
        try:
            raw = target.read_bytes()
            st = target.stat()
        except FileNotFoundError:
            return False
        if sealed_key_id(raw) == self.keys.ring().active:
            return False
        data = self._decode(raw, sha256)
        sealed = self._encode(data, sha256)
        if not target.exists():
            return False
        atomic_write(target, sealed)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        return True

    def seal_all(self) -> tuple[int, int]:
        """Re-seal every blob that is clear or under a key other than the active one
        (first start with encryption, or a key rotation). Resumable: a re-run skips what is
        done. Returns (re-sealed, total)."""
        done = total = 0
        for sha in self.hashes():
            total += 1
            done += self.reseal(sha)
        return done, total

    def ensure_sealed(self) -> int:
        """Seal clear-text blobs left from before encryption, once: a marker file records
        that the whole store was sealed (a clear blob written with encryption off removes
        it). Returns how many blobs were sealed now."""
        if not self.encrypt:
            return 0
        self.keys.ring()  # the first start creates the key file
        marker = self.root / SEALED_MARKER
        if marker.exists():
            return 0
        done, _ = self.seal_all()
        atomic_write(marker, b"every blob in this store is sealed\n")
        return done

    def mtime(self, sha256: str) -> float | None:
        try:
            return self.path(sha256).stat().st_mtime
        except FileNotFoundError:
            return None

    def hashes(self) -> Iterator[str]:
        """Every stored blob's address (temp files and other names are skipped)."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or len(first.name) != 2:
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for f in sorted(second.iterdir()):
                    if is_sha256(f.name) and f.name[:2] == first.name and f.name[2:4] == second.name:
                        yield f.name

    def count(self) -> int:
        return sum(1 for _ in self.hashes())
