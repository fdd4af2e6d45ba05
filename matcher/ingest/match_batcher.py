"""Matching after uploads: one run at a time per process; uploads that arrive during a run do
not wait for it.

Matching is batch-shaped (``review.matching``: one index search per side for a whole chunk)
and serialised across processes (``review.runs.serialise``). When every upload ran its own
run, twenty uploads queued behind one another, each holding a database connection (and on
SQLite the write lock for its run): tens of seconds for a family to hear "received".

Now an upload whose process is not matching runs the match itself, at once (an idle service
behaves as before: candidates exist when the upload answers). An upload that finds a run in
progress only leaves its record pending and answers; after the run, a background thread
matches everything that became pending meanwhile, in one run. The pending mark is in the
database too (``records.needs_match``, set in the upload's own transaction), so a process
that stops before draining loses nothing: the next run anywhere finishes those records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


class MatchBatcher:
    def __init__(self, run: Callable[[list[int]], int]) -> None:
        self._run = run
        self._cond = threading.Condition()
        self._pending: set[int] = set()
        self._running = False
        self.runs = 0  # runs done (inline and drained)

    def match(self, record_ids: Iterable[int]) -> bool:
        """Match ``record_ids`` (committed): now when no run is in progress (its error is
        raised here), else after the current run. Returns whether it matched them now."""
        with self._cond:
            self._pending.update(int(i) for i in record_ids)
            if self._running:
                return False
            self._running = True
            batch = self._take()
        try:
            self._run(batch)
        finally:
            self._after_run()
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is in progress or pending (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running and not self._pending, timeout)

    def _take(self) -> list[int]:
        batch = sorted(self._pending)
        self._pending.clear()
        return batch

    def _after_run(self) -> None:
        with self._cond:
            self.runs += 1
            if self._pending:
                threading.Thread(target=self._drain, name="matcher-match-drain", daemon=True).start()
            else:
                self._running = False
                self._cond.notify_all()

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._running = False
                    self._cond.notify_all()
                    return
                batch = self._take()
            try:
                self._run(batch)
            except Exception as exc:  # the records stay marked needs_match: the next run finishes them
                log.warning("matching of %d record(s) deferred to the next run (%s)", len(batch), type(exc).__name__)
            with self._cond:
                self.runs += 1
