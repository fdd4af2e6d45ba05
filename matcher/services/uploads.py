"""One path for an uploaded file, shared by the API (``/v1/reports|children/{id}/media``) and
the family pages: a photo is analysed and stored at once; a video (up to its own, larger
limit) goes to a background job once the record is known to be writable.

A photo's analysis runs in the bounded model pool (``faces.capacity``): when the pool
and its queue are full the upload is refused with ``ServiceBusy`` (503 + Retry-After)
before anything is stored. A full disk while storing is a ``StorageFullError`` (507);
``RecordService.upload`` has then removed what it wrote, so nothing is half-stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from matcher.errors import FileTooLargeError, StorageFullError
from matcher.faces.capacity import ModelCapacity
from matcher.imaging import sniff_format
from matcher.ingest.photo_age import GivenAge
from matcher.jobs.queue import Job, JobService
from matcher.services.records import RecordService, UploadOutcome
from matcher.settings import Settings
from matcher.store.db import DISK_FULL_MESSAGE, is_disk_full
from matcher.types import Principal
from matcher.video import sniff_video


class UploadServices(Protocol):
    """What an upload uses of the wiring (``matcher.container.Services`` has it)."""

    settings: Settings

    @property
    def capacity(self) -> ModelCapacity: ...
    @property
    def jobs(self) -> JobService: ...
    @property
    def records(self) -> RecordService: ...


@dataclass(frozen=True)
class Received:
    """Exactly one is set: ``outcome`` for a photo (stored), ``job`` for a video (queued)."""

    outcome: UploadOutcome | None = None
    job: Job | None = None


def receive_media(
    services: UploadServices, who: Principal, record_id: int, side: str, data: bytes, filename: str | None, given: GivenAge | None = None
) -> Received:
    """Store a photo (analysed now) or queue a video; blocking, so async callers run it in a
    worker thread. ``given``: the child's age in it, if the uploader said."""
    settings = services.settings
    is_video = sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None
    if not is_video and len(data) > settings.max_upload_bytes:
        raise FileTooLargeError(f"Photos are limited to {settings.max_upload_mb:g} MB.")
    try:
        if is_video:
            services.records.check_writable(who, record_id, side)
            job = services.jobs.submit_upload(who, record_id, side, data, filename, given=given)  # blob stored, then a durable job
            return Received(job=job)
        with services.capacity.slot():
            return Received(outcome=services.records.upload(who, record_id, side, data, filename, given=given))
    except OSError as exc:
        if is_disk_full(exc):
            raise StorageFullError(DISK_FULL_MESSAGE) from exc
        raise
