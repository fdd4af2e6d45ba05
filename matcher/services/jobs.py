"""Background work (video uploads, archive imports): one worker thread, status by id.

Jobs live in memory: a restart forgets their status (the work itself is committed or
not, per the usual transaction rules). Only the job's owner and admins can read it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from matcher.errors import MatcherError
from matcher.types import JobStatus


@dataclass
class Job:
    id: str
    kind: str
    owner_id: int
    status: str = JobStatus.QUEUED
    result: dict | None = None
    error: dict | None = field(default=None)


class JobRunner:
    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="matcher-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, owner_id: int, work: Callable[[], dict]) -> Job:
        job = Job(uuid.uuid4().hex, kind, owner_id)
        with self._lock:
            self._jobs[job.id] = job

        def run() -> None:
            job.status = JobStatus.RUNNING
            try:
                job.result = work()
                job.status = JobStatus.DONE
            except MatcherError as exc:
                job.error, job.status = {"code": exc.code, "message": exc.message}, JobStatus.FAILED
            except Exception as exc:  # noqa: BLE001 - a job must always end with a status
                job.error, job.status = {"code": "internal_error", "message": f"processing failed: {type(exc).__name__}"}, JobStatus.FAILED

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
