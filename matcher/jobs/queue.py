"""Background work as rows in the ``jobs`` table: the queue and its status record at once.

A job is inserted ``queued`` with a payload that is enough to run it (a stored blob's
sha256, a record id, a server folder), so it outlives the process that queued it. Workers
(``jobs.worker``: a thread inside ``matcher serve``, or ``matcher worker`` processes
on any machine that reaches the database) *claim* it with one atomic statement:

* PostgreSQL: ``UPDATE jobs ... WHERE id = (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT 1)``
  (two workers never get the same row, and neither waits for the other);
* SQLite: the same ``UPDATE ... WHERE state='queued' AND id = (SELECT ...)``; SQLite has one
  writer at a time, so the statement is atomic as it stands.

A running job's worker refreshes ``heartbeat_at``; a job whose worker died (a heartbeat
older than ``STALE_S``, or at once when the worker was a process on this machine that no
longer exists) goes back to ``queued``; after ``MAX_ATTEMPTS`` starts it is ``failed`` with
the reason. The work itself is idempotent (``jobs.kinds``), so a re-run after a
crash stores nothing twice. Only the job's creator and admins can read it.

A long job reports how far it is with ``set_progress`` (``{"done", "total", "stage"}`` in the
row's ``progress``), written at most once every ``PROGRESS_EVERY_S`` seconds (plus every
change of stage and the final value), so a 10,000-photo import does not write a row per photo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import InputError, NotFoundError
from matcher.store import blobrefs, repo
from matcher.store.blobs import BlobStore
from matcher.store.tables import JobRow, Record, utcnow
from matcher.types import JobStatus, Principal, Role

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # starts of one job before a crash-looping job is given up
HEARTBEAT_S = 5.0  # how often a worker refreshes the jobs it runs
STALE_S = 30.0  # a running job not heard of for this long lost its worker
PRIVATE_PAYLOAD = ("filename",)  # what a family typed or named; dropped once the job ended
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
PROGRESS_EVERY_S = 1.0  # a running job's progress is written at most this often (plus stage changes and the end)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    owner_id: int | None
    record_id: int | None
    status: str
    payload: dict
    attempts: int
    result: dict | None
    error: dict | None
    locked_by: str | None
    progress: dict | None = None  # {"done": n, "total": m, "stage": "..."} once the job reported any

    @classmethod
    def of(cls, row: JobRow) -> Job:
        error = {"code": row.error_code, "message": row.error_message} if row.error_code else None
        return cls(
            row.id, row.kind, row.owner_id, row.record_id, row.state, dict(row.payload or {}), row.attempts, row.result, error, row.locked_by, row.progress
        )

    def public(self) -> dict:
        """What ``GET /v1/jobs/{id}`` answers."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "result": self.result, "error": self.error, "progress": self.progress}


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def machine_identity() -> str:
    """This machine and process namespace: a worker here can tell whether a pid it sees in
    ``locked_by`` is alive. Two containers sharing a hostname differ in their namespace."""
    return f"{socket.gethostname()}/{_pid_namespace()}"


def worker_identity(suffix: str = "") -> str:
    return f"{machine_identity()}/{os.getpid()}{suffix}"


def _local_pid_is_gone(locked_by: str | None, here: str) -> bool:
    """True when ``locked_by`` names a process of this machine that no longer exists."""
    if not locked_by or not locked_by.startswith(here + "/"):
        return False
    pid_text = locked_by[len(here) + 1 :].split(":", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: its worker threads are alive or the job is being finished
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class InProcessWorker(Protocol):
    def start(self) -> None: ...
    def stop(self, wait: bool = True) -> None: ...


class JobService:
    """The queue over the ``jobs`` table. ``inprocess_worker``: the worker that runs queued
    jobs on a thread of this process (``MATCHER_INPROCESS_WORKER``), built on first need by
    the wiring (``matcher.container``), or None where jobs run elsewhere."""

    def __init__(
        self, sessions: sessionmaker[Session], engine: Engine, blobs: BlobStore, inprocess_worker: Callable[[], InProcessWorker] | None = None
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._blobs = blobs
        self._make_worker = inprocess_worker
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inprocess: InProcessWorker | None = None  # jobs.worker.Worker, started by start_inprocess()
        self._progress_lock = threading.Lock()
        self._progress_marks: dict[str, tuple[float, str | None]] = {}  # job id -> (monotonic time, stage) of its last progress write

    # ---- queueing ----
    def submit(self, kind: str, owner_id: int | None, payload: dict, record_id: int | None = None) -> Job:
        """Queue work; committed before this returns, so it survives a restart."""
        with self._sessions.begin() as session:
            row = JobRow(
                id=uuid.uuid4().hex, kind=kind, owner_id=owner_id, record_id=record_id, payload=payload, state=JobStatus.QUEUED, attempts=0, created_at=utcnow()
            )
            session.add(row)
            session.flush()
            job = Job.of(row)
        self._wake.set()
        if self._make_worker is not None:
            self.start_inprocess()
        return job

    def submit_upload(self, who: Principal, record_id: int, side: str, data: bytes, filename: str | None, given=None) -> Job:
        """A video for a record: its bytes go to the blob store first (content-addressed), then
        the job that analyses them is queued. The caller has checked the record is writable.
        ``given``: the child's age in it (``ingest.photo_age.GivenAge``), checked now."""
        with self._sessions() as session:
            record = session.get(Record, record_id)
            if record is None:
                raise NotFoundError(f"no record {record_id}")
            if hashlib.sha256(data).hexdigest() in repo.known_media(session, side, record.external_id):
                raise InputError("this file is already part of the record")
            if given is not None:  # a year that does not fit the birth year: 422 now, not a failed job
                given.resolve(record.known_birth_year)
        sha = self._blobs.put(data)  # before the row that points at it (invariant 2, docs/architecture.md)
        payload = {"record_id": record_id, "side": side, "blob": sha, "filename": filename}
        if given is not None:
            payload["given"] = {"age": given.age, "year": given.year}
        return self.submit("video", who.user_id, payload, record_id=record_id)

    # ---- reading ----
    def get(self, job_id: str) -> Job | None:
        with self._sessions() as session:
            row = session.get(JobRow, job_id) if len(job_id) <= 32 else None
            return Job.of(row) if row is not None else None

    def status(self, who: Principal, job_id: str) -> dict:
        """A job as its creator (or an admin) sees it; anyone else is told it does not exist."""
        job = self.get(job_id)
        if job is None or (job.owner_id != who.user_id and who.role != Role.ADMIN):
            raise NotFoundError(f"no job {job_id}")
        return job.public()

    def active_blobs(self) -> set[str]:
        """Blobs that queued or running jobs still need (never deleted under them)."""
        with self._sessions() as session:
            payloads = session.scalars(select(JobRow.payload).where(JobRow.state.in_(ACTIVE)))
            return {p["blob"] for p in payloads if p and p.get("blob")}

    def release_blob(self, job: Job) -> bool:
        """Delete the blob the job's payload names (an upload it was queued with) unless a row
        (media, face crop, sighting) or another queued or running job still uses it: the same
        file uploaded twice. True when it was deleted."""
        sha = job.payload.get("blob")
        if not sha:
            return False
        with self._sessions() as session:
            if blobrefs.in_use(session, sha):
                return False
            others = session.execute(select(JobRow.id, JobRow.payload).where(JobRow.state.in_(ACTIVE))).all()
        if any(job_id != job.id and (payload or {}).get("blob") == sha for job_id, payload in others):
            return False
        return self._blobs.delete(sha)

    # ---- the worker's side ----
    def set_progress(self, job_id: str, done: int, total: int, stage: str | None = None) -> bool:
        """Record how far a running job is. Cheap to call for every item: the row is written
        when the stage changes, when ``done`` reaches ``total``, and otherwise at most every
        ``PROGRESS_EVERY_S``. True when it was written. A failed write (a busy database) is
        logged and skipped: progress is a display, never a reason for the job to fail."""
        now = time.monotonic()
        with self._progress_lock:
            last = self._progress_marks.get(job_id)
            if last is not None and last[1] == stage and done < total and now - last[0] < PROGRESS_EVERY_S:
                return False
            self._progress_marks[job_id] = (now, stage)
        progress = {"done": int(done), "total": int(total), "stage": stage}
        try:
            with self._sessions.begin() as session:
                written = session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == JobStatus.RUNNING).values(progress=progress)).rowcount
        except SQLAlchemyError as exc:
            log.warning("job %s: progress not recorded (%s)", job_id, type(exc).__name__)
            return False
        return bool(written)

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for ``worker`` (atomically; see the module text)."""
        engine = self._engine
        now = utcnow()
        pick = select(JobRow.id).where(JobRow.state == JobStatus.QUEUED).order_by(JobRow.created_at, JobRow.id).limit(1)
        if engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        claim = (
            update(JobRow)
            .where(JobRow.id == pick.scalar_subquery(), JobRow.state == JobStatus.QUEUED)
            .values(state=JobStatus.RUNNING, locked_by=worker, attempts=JobRow.attempts + 1, started_at=now, heartbeat_at=now)
            .returning(JobRow.id)
        )
        with self._sessions.begin() as session:
            job_id = session.execute(claim).scalar_one_or_none()
            if job_id is None:
                return None
            return Job.of(session.get(JobRow, job_id))

    def heartbeat(self, worker: str, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self._sessions.begin() as session:
            session.execute(
                update(JobRow).where(JobRow.id.in_(job_ids), JobRow.locked_by == worker, JobRow.state == JobStatus.RUNNING).values(heartbeat_at=utcnow())
            )

    def finish(self, job: Job, worker: str, result: dict) -> bool:
        return self._end(job, worker, JobStatus.DONE, result=result)

    def fail(self, job: Job, worker: str, code: str, message: str) -> bool:
        return self._end(job, worker, JobStatus.FAILED, error_code=code, error_message=message)

    def retry(self, job: Job, worker: str) -> bool:
        """Queue a job this worker holds again (a transient failure), unless it has had its
        ``MAX_ATTEMPTS`` starts. True when it was queued again."""
        if job.attempts >= MAX_ATTEMPTS:
            return False
        with self._sessions.begin() as session:
            queued = session.execute(
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.locked_by == worker, JobRow.state == JobStatus.RUNNING)
                .values(state=JobStatus.QUEUED, locked_by=None, heartbeat_at=None)
            ).rowcount
        self._wake.set()
        return bool(queued)

    def _end(self, job: Job, worker: str, state: str, **values) -> bool:
        """End a job this worker holds. False when it no longer holds it (re-queued after a
        lost heartbeat, or the record was erased): the row is left to its new owner."""
        payload = {k: v for k, v in job.payload.items() if k not in PRIVATE_PAYLOAD}
        with self._progress_lock:
            self._progress_marks.pop(job.id, None)
        with self._sessions.begin() as session:
            ended = session.execute(
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.locked_by == worker, JobRow.state == JobStatus.RUNNING)
                .values(state=state, finished_at=utcnow(), payload=payload, **values)
            ).rowcount
        if not ended:
            log.warning("job %s was no longer held by this worker when it ended (%s)", job.id, state)
        return bool(ended)

    def recover(self, now: dt.datetime | None = None) -> list[Job]:
        """Re-queue running jobs whose worker died; fail those started ``MAX_ATTEMPTS`` times.
        Returns the jobs it failed (their kind may have leftovers to remove)."""
        now = now or utcnow()
        stale_before = now - dt.timedelta(seconds=STALE_S)
        here = machine_identity()
        failed = []
        with self._sessions() as session:
            running = session.scalars(select(JobRow).where(JobRow.state == JobStatus.RUNNING)).all()
            lost = [
                (r.id, r.locked_by, r.attempts)
                for r in running
                if (r.heartbeat_at is None or r.heartbeat_at < stale_before) or _local_pid_is_gone(r.locked_by, here)
            ]
        for job_id, holder, attempts in lost:
            give_up = attempts >= MAX_ATTEMPTS
            values = (
                {
                    "state": JobStatus.FAILED,
                    "finished_at": now,
                    "error_code": "job_interrupted",
                    "error_message": f"The work was interrupted {attempts} times (the process running it stopped) and is not tried again.",
                }
                if give_up
                else {"state": JobStatus.QUEUED, "locked_by": None, "heartbeat_at": None}
            )
            with self._sessions.begin() as session:
                changed = session.execute(
                    update(JobRow).where(JobRow.id == job_id, JobRow.state == JobStatus.RUNNING, JobRow.locked_by == holder).values(**values)
                ).rowcount
                if changed and give_up:
                    row = session.get(JobRow, job_id)
                    row.payload = {k: v for k, v in (row.payload or {}).items() if k not in PRIVATE_PAYLOAD}
                    failed.append(Job.of(row))
            if changed:
                log.warning("job %s lost its worker; %s", job_id, "given up" if give_up else "queued again")
        if lost:
            self._wake.set()
        return failed

    def wake(self) -> None:
        """Wake this process's idle worker threads (a job was queued, or they should stop)."""
        self._wake.set()

    def wait_for_work(self, timeout: float) -> None:
        """Block until a job is queued in this process, or ``timeout`` seconds."""
        if self._wake.wait(timeout):
            self._wake.clear()

    # ---- the in-process worker of the API ----
    def start_inprocess(self) -> None:
        """Run queued jobs on a thread of this process (``MATCHER_INPROCESS_WORKER``); idempotent."""
        with self._lock:
            if self._inprocess is None and self._make_worker is not None:
                self._inprocess = self._make_worker()
                self._inprocess.start()

    def shutdown(self) -> None:
        """Stop the in-process worker after the job it is running (if any) ends."""
        with self._lock:
            worker, self._inprocess = self._inprocess, None
        if worker is not None:
            worker.stop()
