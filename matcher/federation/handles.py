"""One-time handles: how an answer names the holder's records without their ids.

Each answer gets a fresh random id (128 bits); its records, in the answer's random order,
are the handles ``<answer id>.<position>``. Only the holder keeps the grant that maps them
back to record ids, for the peer it answered and until it expires, so that this peer (and
no other) can name one in a disclosure request. Two answers never share a handle, even for
the same probe, and a position says nothing without the grant.

``HandleStore`` is what the holder needs; ``MemoryHandleStore`` serves one process and the
tests. Erasing a record must call ``forget_record`` so that its handles stop resolving.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from matcher.errors import UnknownHandle

ANSWER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_HANDLE = re.compile(r"([A-Za-z0-9_-]{22})\.([0-9]{1,9})")
ERASED = -1


@dataclass(frozen=True)
class AnswerGrant:
    peer: str  # the key id of the peer the answer went to
    record_ids: tuple[int, ...]  # by position in the answer; ERASED once a record is erased
    expires_at: float


class HandleStore(Protocol):
    def put(self, answer_id: str, grant: AnswerGrant) -> None: ...

    def get(self, answer_id: str, now: float) -> AnswerGrant | None:
        """The grant, or None when unknown or expired."""
        ...

    def forget_record(self, record_id: int) -> int:
        """Stop every handle of ``record_id`` resolving; how many answers named it."""
        ...

    def purge(self, now: float) -> int: ...


class MemoryHandleStore:
    def __init__(self) -> None:
        self._grants: dict[str, AnswerGrant] = {}
        self._lock = threading.Lock()

    def put(self, answer_id: str, grant: AnswerGrant) -> None:
        with self._lock:
            if answer_id in self._grants:
                raise ValueError("answer ids are never reused")
            self._grants[answer_id] = grant

    def get(self, answer_id: str, now: float) -> AnswerGrant | None:
        grant = self._grants.get(answer_id)
        return grant if grant is not None and grant.expires_at > now else None

    def forget_record(self, record_id: int) -> int:
        changed = 0
        with self._lock:
            for answer_id, grant in list(self._grants.items()):
                if record_id in grant.record_ids:
                    ids = tuple(ERASED if r == record_id else r for r in grant.record_ids)
                    self._grants[answer_id] = AnswerGrant(grant.peer, ids, grant.expires_at)
                    changed += 1
        return changed

    def purge(self, now: float) -> int:
        with self._lock:
            old = [a for a, g in self._grants.items() if g.expires_at <= now]
            for a in old:
                del self._grants[a]
        return len(old)

    def __len__(self) -> int:
        return len(self._grants)


def new_answer_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters


def handle_name(answer_id: str, position: int) -> str:
    return f"{answer_id}.{position}"


def handles_of(answer_id: str, count: int) -> list[str]:
    return [handle_name(answer_id, i) for i in range(count)]


def grant(store: HandleStore, peer: str, record_ids: Sequence[int], now: float, ttl_s: float) -> str:
    """Record a fresh answer naming ``record_ids`` (in answer order) for ``peer``; its id."""
    answer_id = new_answer_id()
    store.put(answer_id, AnswerGrant(peer, tuple(int(r) for r in record_ids), now + ttl_s))
    return answer_id


def resolve(store: HandleStore, handle: str, peer: str, now: float) -> int:
    """The record id behind ``handle`` for ``peer``; ``UnknownHandle`` (404) when the handle is
    malformed, was given to another peer, expired, or its record was erased (one message for
    all, so a peer cannot tell them apart)."""
    match = _HANDLE.fullmatch(handle) if isinstance(handle, str) else None
    found = store.get(match.group(1), now) if match else None
    position = int(match.group(2)) if match else -1
    if found is None or found.peer != peer or not 0 <= position < len(found.record_ids) or found.record_ids[position] == ERASED:
        raise UnknownHandle("no such handle: it was never given to this peer, it expired, or its record is gone")
    return found.record_ids[position]
