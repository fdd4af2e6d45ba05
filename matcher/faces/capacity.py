"""Back-pressure for model work: a bounded pool with a bounded wait.

Detection and embedding (an uploaded photo, a search photo, ``POST /v1/faces``) are CPU
work; on a small machine twenty of them at once make every one slow (p95 of 7 s measured
for one photo with 20 families uploading on 2 cores). Instead, at most ``slots`` run at a
time (default: one per core) and at most ``waiting`` more wait for a slot; anything past
that is refused at once with ``ServiceBusy`` (503 + ``Retry-After``), before anything is
stored, so the person sees "busy, try again in a minute" instead of a page that hangs.

Callers already run in a worker thread (FastAPI's thread pool), so the pool is a
semaphore over those threads rather than a second executor. Background jobs (videos,
imports) do not pass through here: they run in the job worker, one at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from matcher.errors import ServiceBusy

T = TypeVar("T")
BUSY_MESSAGE = "We are busy with other photos right now, so nothing was stored. Please try again in a minute."


@dataclass(frozen=True)
class CapacityState:
    slots: int
    waiting_limit: int
    running: int
    waiting: int
    refused: int  # since start
    oldest_wait_s: float  # how long the longest-waiting request has waited now


class ModelCapacity:
    def __init__(self, slots: int, waiting: int) -> None:
        if slots < 1 or waiting < 0:
            raise ValueError("slots >= 1 and waiting >= 0")
        self.slots = slots
        self.waiting_limit = waiting
        self._free = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: dict[int, float] = {}  # ticket -> when it started waiting
        self._ticket = 0
        self._refused = 0
        self.on_wait: Callable[[float], None] | None = None  # metrics hook: seconds waited for a slot
        self._held = threading.local()  # whether this thread still holds the slot it entered with

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block; ``ServiceBusy`` at once when the pool and its queue are full."""
        with self._lock:
            if self._running + len(self._waiting) >= self.slots + self.waiting_limit:
                self._refused += 1
                raise ServiceBusy(BUSY_MESSAGE)
            self._ticket += 1
            ticket = self._ticket
            self._waiting[ticket] = time.monotonic()
            started = self._waiting[ticket]
        try:
            self._free.acquire()
        except BaseException:
            with self._lock:
                del self._waiting[ticket]
            raise
        with self._lock:
            del self._waiting[ticket]
            self._running += 1
        if self.on_wait is not None:
            self.on_wait(time.monotonic() - started)
        self._held.value = True
        try:
            yield
        finally:
            self.release_early()

    def release_early(self) -> None:
        """Give this thread's slot back before its block ends (the model work is done: what
        follows, e.g. waiting for a matching run, should not keep another photo waiting)."""
        if getattr(self._held, "value", False):
            self._held.value = False
            with self._lock:
                self._running -= 1
            self._free.release()

    def run(self, work: Callable[..., T], *args, **kwargs) -> T:
        with self.slot():
            return work(*args, **kwargs)

    def state(self) -> CapacityState:
        now = time.monotonic()
        with self._lock:
            oldest = now - min(self._waiting.values()) if self._waiting else 0.0
            return CapacityState(self.slots, self.waiting_limit, self._running, len(self._waiting), self._refused, oldest)
