"""One matching run at a time per process, shared by every upload that arrives meanwhile.

Matching is batch-shaped (``review.matching``: one index search per side for a whole chunk)
and serialised across processes (``review.runs.serialise``). Twenty uploads that each ran
their own run would queue behind one another, each holding a database connection and, on
SQLite, the write lock for its run. Instead an upload that finds a run in progress waits
for it, and the uploads that waited meanwhile are matched together by the next run (one of
them runs it). When ``match`` returns, a run that started after the caller's records were
committed has finished, so a caller sees its candidates as before (the family never does;
reviewers and tests may).
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
        self._started = 0  # runs started
        self._finished = 0  # runs finished
        self._running = False
        self._failure: dict[int, BaseException] = {}  # run number -> its error (kept for the waiters of that run)

    def match(self, record_ids: Iterable[int]) -> None:
        """Match ``record_ids`` (committed) in the next run; raise that run's error, if any."""
        with self._cond:
            self._pending.update(int(i) for i in record_ids)
            mine = self._started + 1  # the next run to start takes everything pending now
            while self._finished < mine:
                if not self._running:
                    break
                self._cond.wait()
            else:
                error = self._failure.get(mine)
                if error is not None:
                    raise error
                return
            self._running = True
            self._started += 1
            number = self._started
            batch = sorted(self._pending)
            self._pending.clear()
        error: BaseException | None = None
        try:
            self._run(batch)
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._cond:
                self._running = False
                self._finished = number
                if error is not None:
                    self._failure = {number: error}
                self._cond.notify_all()
