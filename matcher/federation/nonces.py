"""Nonces already seen from each peer, so that a signed request is accepted once.

A nonce needs keeping only while its request's timestamp is inside the clock window: after
that the timestamp check refuses the request anyway. ``NonceStore`` is what signature
verification needs; ``MemoryNonceStore`` serves one process (and the tests). A store shared
by several processes (a database table with a unique key on sender and nonce) implements
the same ``add``.
"""

from __future__ import annotations

import threading
from typing import Protocol


class NonceStore(Protocol):
    def add(self, sender: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record ``nonce`` from ``sender`` until ``expires_at``; False when it is already
        recorded and not yet expired (a replay). Check and record are one atomic step."""
        ...


class MemoryNonceStore:
    """In one process: a dict, purged of expired nonces as it grows."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._next_purge = 1024

    def add(self, sender: str, nonce: str, expires_at: float, now: float) -> bool:
        with self._lock:
            key = (sender, nonce)
            expiry = self._seen.get(key)
            if expiry is not None and expiry >= now:
                return False
            self._seen[key] = expires_at
            if len(self._seen) >= self._next_purge:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                self._next_purge = max(1024, 2 * len(self._seen))
            return True

    def __len__(self) -> int:
        return len(self._seen)
