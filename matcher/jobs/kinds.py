"""What each kind of background job does (``jobs.queue`` queues them, ``jobs.worker``
runs them). Every kind is idempotent: a job re-run after its worker died finds what the
first run committed and finishes from there, storing nothing twice.

* ``video``: a video uploaded to a record. Its bytes were stored as a blob before the job
  was queued; the job analyses them and stores media, faces and embeddings in one
  transaction (``records.upload``), then indexes and matches. A re-run that finds the media
  row already stored only makes sure its faces are indexed and the record matched.
* ``import``: a shelter archive folder under the import root (``batch.import_archive``,
  which skips files already stored).
* ``archive_upload``: a shelter archive uploaded as a ZIP, stored as a blob before the job
  was queued (``services.imports``: skips files already stored, reports progress, deletes
  the blob when it ends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from matcher.errors import ForbiddenError, InputError
from matcher.ingest.persist import stored_templates
from matcher.ingest.photo_age import GivenAge
from matcher.jobs.queue import Job
from matcher.sightings.sweep_job import cleanup_sweep, run_sweep
from matcher.store.tables import Media, Record, User
from matcher.types import MediaKind, Principal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from matcher.faces.packs import Pack
    from matcher.ingest.persist import MediaWriter
    from matcher.jobs.queue import JobService
    from matcher.services.imports import ImportService
    from matcher.services.records import RecordService
    from matcher.services.review import ReviewService
    from matcher.sightings.service import SightingService
    from matcher.store.blobs import BlobStore


class JobServices(Protocol):
    """What the job kinds use of the wiring (``matcher.container.Services`` has it): a kind
    runs a use case (the records' upload, the ZIP import, a sweep) as the person who queued it."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def jobs(self) -> JobService: ...
    @property
    def media_writer(self) -> MediaWriter: ...
    @property
    def records(self) -> RecordService: ...
    @property
    def review(self) -> ReviewService: ...
    @property
    def imports(self) -> ImportService: ...
    @property
    def sightings(self) -> SightingService: ...
    def pack_info(self, pack: str | None = None) -> Pack: ...
    def import_archive(self, folder: Path, actor: str) -> dict: ...


@dataclass(frozen=True)
class JobKind:
    run: Callable[[JobServices, Job], dict]  # (services, job) -> result; raises MatcherError for a person's mistake
    cleanup: Callable[[JobServices, Job], None]  # after the job failed for good: remove what only it needed


def _principal(services: JobServices, user_id: int | None) -> Principal:
    """The person who queued the job, checked again now (an account disabled meanwhile
    stops its queued work)."""
    with services.sessions() as session:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None or user.disabled:
            raise ForbiddenError("The account that sent this work is no longer active.")
        return Principal(user.id, user.name, user.role, token_id=0)


# ---- video ----
def run_video(services: JobServices, job: Job) -> dict:
    p = job.payload
    record_id, side, sha = p["record_id"], p["side"], p["blob"]
    who = _principal(services, job.owner_id)
    stored = _stored_media_id(services, record_id, sha)
    if stored is not None:  # an earlier run committed it and died before saying so
        return _finish_stored(services, who, record_id, side, stored)
    if not services.blobs.exists(sha):
        raise InputError("The uploaded file is no longer available; please upload it again.")
    given = GivenAge(**p["given"]) if p.get("given") else None  # the child's age in it, as the uploader said
    outcome = services.records.upload(who, record_id, side, services.blobs.get(sha), p.get("filename"), given=given)
    return {**outcome.__dict__, "warnings": list(outcome.warnings)}


def _stored_media_id(services: JobServices, record_id: int, sha: str) -> int | None:
    with services.sessions() as session:
        return session.scalar(select(Media.id).where(Media.record_id == record_id, Media.sha256 == sha).order_by(Media.id).limit(1))


def _finish_stored(services: JobServices, who: Principal, record_id: int, side: str, media_id: int) -> dict:
    """The media row exists: index its selected faces (already present ones are skipped)
    and match the record if its matching never ran."""
    pack = services.pack_info()
    with services.sessions() as session:
        templates = stored_templates(session, media_id, pack.name)
        pending = bool(session.scalar(select(Record.needs_match).where(Record.id == record_id)))
    services.media_writer.index(side, pack.name, pack.embedding_dim, templates)
    if pending:
        services.review.match([record_id])
    faces = services.records.media_faces(who, record_id, media_id)
    return {"media_id": media_id, "kind": MediaKind.VIDEO.value, "faces": faces, "needs_pick": False, "warnings": []}


def cleanup_video(services: JobServices, job: Job) -> None:
    """Delete the uploaded blob unless a media row, a face crop or another pending job uses it."""
    services.jobs.release_blob(job)


# ---- archive import ----
def run_import(services: JobServices, job: Job) -> dict:
    if job.owner_id is not None:
        _principal(services, job.owner_id)  # a disabled account's queued import does not run
    return services.import_archive(Path(job.payload["folder"]), job.payload["actor"])


# ---- archive uploaded as a ZIP (services.imports) ----
def run_archive_upload(services: JobServices, job: Job) -> dict:
    return services.imports.run(_principal(services, job.owner_id), job)


def cleanup_archive_upload(services: JobServices, job: Job) -> None:
    """After the job failed for good: its ZIP goes unless another job still needs it."""
    services.imports.release(job)


def _nothing(_services, _job: Job) -> None:
    return None


KINDS: dict[str, JobKind] = {
    "video": JobKind(run_video, cleanup_video),
    "import": JobKind(run_import, _nothing),
    "archive_upload": JobKind(run_archive_upload, cleanup_archive_upload),  # services.imports
    "sweep": JobKind(run_sweep, cleanup_sweep),  # footage swept for sightings (matcher.sightings.sweep_job)
}
