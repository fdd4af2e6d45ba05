"""Runs queued background jobs (``jobs.queue``): ``concurrency`` threads claim and execute
jobs, one thread keeps their heartbeats fresh, and every ``RECOVER_EVERY_S`` a loop re-queues
the jobs of workers that died. The same class is the thread inside ``matcher serve``
(``MATCHER_INPROCESS_WORKER``) and the body of ``matcher worker``.

Stopping is graceful: no new job is claimed and the running ones finish. A worker killed
outright leaves its jobs ``running``; the next worker to look re-queues them (``jobs.recover``).
Logs name jobs by id and kind only, never a file name or anything a family typed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from matcher.errors import MatcherError
from matcher.jobs.kinds import KINDS, JobKind, JobServices
from matcher.jobs.queue import HEARTBEAT_S, STALE_S, Job, worker_identity
from matcher.types import JobStatus

log = logging.getLogger(__name__)

RECOVER_EVERY_S = STALE_S / 2


class Worker:
    def __init__(
        self,
        services: JobServices,
        concurrency: int = 1,
        name: str | None = None,
        kinds: dict[str, JobKind] | None = None,
        poll_s: float = 1.0,
        on_end: Callable[[Job, str], None] | None = None,
    ) -> None:
        self.services = services
        self.jobs = services.jobs
        self.concurrency = max(1, concurrency)
        self.name = name or worker_identity()
        self.kinds = KINDS if kinds is None else kinds
        self.poll_s = poll_s
        self.on_end = on_end
        self.ended: list[tuple[str, str]] = []  # (job id, final state), in the order they ended
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._last_recover = 0.0
        self._thread: threading.Thread | None = None

    # ---- running ----
    def run(self, once: bool = False) -> list[tuple[str, str]]:
        """Work until ``stop()`` (or, with ``once``, until no job is queued). Blocking."""
        self._recover()
        heart = threading.Thread(target=self._heartbeats, name="matcher-worker-heartbeat", daemon=True)
        heart.start()
        loops = [threading.Thread(target=self._loop, args=(once,), name=f"matcher-worker-{i}", daemon=True) for i in range(self.concurrency)]
        for t in loops:
            t.start()
        try:
            for t in loops:
                while t.is_alive():
                    t.join(0.5)  # joined in slices so Ctrl-C reaches the main thread
        finally:
            self._stop.set()
        self._done.set()
        heart.join(HEARTBEAT_S + 1)
        return list(self.ended)

    def start(self) -> None:
        """Run on a background thread (the API's in-process worker)."""
        self._thread = threading.Thread(target=self.run, name="matcher-worker", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Claim nothing more; with ``wait``, return once the running jobs have ended."""
        self._stop.set()
        self.jobs.wake()
        if wait and self._thread is not None:
            self._thread.join()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self, once: bool) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._last_recover > RECOVER_EVERY_S:
                self._recover()
            try:
                job = self.jobs.claim(self.name)
            except SQLAlchemyError as exc:
                log.warning("could not claim a job (%s); retrying", type(exc).__name__)
                self._stop.wait(self.poll_s)
                continue
            if job is None:
                if once:
                    return
                self.jobs.wait_for_work(self.poll_s)
                continue
            self._execute(job)

    def _execute(self, job: Job) -> None:
        with self._lock:
            self._held.add(job.id)
        kind = self.kinds.get(job.kind)
        log.info("job %s (%s) started, attempt %d", job.id, job.kind, job.attempts)
        try:
            if kind is None:
                self._end(job, JobStatus.FAILED, None, error=("unknown_job_kind", f"This worker does not know jobs of kind '{job.kind}'."))
                return
            result = kind.run(self.services, job)
        except MatcherError as exc:
            self._end(job, JobStatus.FAILED, kind, error=(exc.code, exc.message))
        except (OperationalError, IntegrityError) as exc:
            # a clash with concurrent work (lock timeout, deadlock, a row another process wrote
            # first): the work is idempotent and its transaction rolled back, so it runs again
            error = ("internal_error", f"processing failed: {type(exc).__name__}")
            if self.jobs.retry(job, self.name):
                log.warning("job %s (%s) clashed with concurrent work (%s); queued again", job.id, job.kind, type(exc).__name__)
            else:
                self._end(job, JobStatus.FAILED, kind, error=error)
        except Exception as exc:  # a job must always end with a status
            log.error("job %s (%s) failed: %s", job.id, job.kind, type(exc).__name__)
            log.debug("job %s traceback", job.id, exc_info=True)
            self._end(job, JobStatus.FAILED, kind, error=("internal_error", f"processing failed: {type(exc).__name__}"))
        else:
            self._end(job, JobStatus.DONE, kind, result=result)
        finally:
            with self._lock:
                self._held.discard(job.id)

    def _end(self, job: Job, state: str, kind: JobKind | None, result: dict | None = None, error: tuple[str, str] | None = None) -> None:
        if state == JobStatus.DONE:
            ended = self.jobs.finish(job, self.name, result or {})
        else:
            ended = self.jobs.fail(job, self.name, *error)
            if ended and kind is not None:
                self._cleanup(kind, job)
        if ended:
            log.info("job %s (%s) %s", job.id, job.kind, state)
            with self._lock:
                self.ended.append((job.id, state))
            if self.on_end is not None:
                self.on_end(job, state)

    def _cleanup(self, kind: JobKind, job: Job) -> None:
        try:
            kind.cleanup(self.services, job)
        except Exception as exc:  # leftovers are collectable; the status is what matters
            log.warning("job %s (%s): cleanup failed: %s", job.id, job.kind, type(exc).__name__)

    def _recover(self) -> None:
        self._last_recover = time.monotonic()
        try:
            for job in self.jobs.recover():
                kind = self.kinds.get(job.kind)
                if kind is not None:
                    self._cleanup(kind, job)
        except SQLAlchemyError as exc:
            log.warning("could not look for abandoned jobs (%s)", type(exc).__name__)

    def _heartbeats(self) -> None:
        """Until every loop has returned (running jobs finish after a stop)."""
        while not self._done.wait(HEARTBEAT_S):
            with self._lock:
                held = sorted(self._held)
            try:
                self.jobs.heartbeat(self.name, held)
            except SQLAlchemyError as exc:
                log.warning("heartbeat failed (%s)", type(exc).__name__)
