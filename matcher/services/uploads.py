"""One path for an uploaded file, shared by the API (``/v1/reports|children/{id}/media``) and
the family pages: a photo is analysed and stored at once; a video (up to its own, larger
limit) goes to a background job once the record is known to be writable."""

from __future__ import annotations

from dataclasses import dataclass

from matcher.errors import FileTooLargeError
from matcher.imaging import sniff_format
from matcher.services.accounts import Principal
from matcher.services.jobs import Job
from matcher.services.records import UploadOutcome
from matcher.video import sniff_video


@dataclass(frozen=True)
class Received:
    """Exactly one is set: ``outcome`` for a photo (stored), ``job`` for a video (queued)."""

    outcome: UploadOutcome | None = None
    job: Job | None = None


def receive_media(services, who: Principal, record_id: int, side: str, data: bytes, filename: str | None) -> Received:
    """Store a photo (analysed now) or queue a video; blocking, so async callers run it in a
    worker thread."""
    settings = services.settings
    is_video = sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None
    if not is_video and len(data) > settings.max_upload_bytes:
        raise FileTooLargeError(f"Photos are limited to {settings.max_upload_mb:g} MB.")
    if is_video:
        services.records.check_writable(who, record_id, side)
        job = services.jobs.submit("video", who.user_id, lambda: services.records.upload(who, record_id, side, data, filename).__dict__)
        return Received(job=job)
    return Received(outcome=services.records.upload(who, record_id, side, data, filename))
