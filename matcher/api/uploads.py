"""Reading an upload with a cap, and handing it to ``services.uploads.receive_media`` off the
event loop (the same path as the family pages' uploads)."""

from __future__ import annotations

from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from matcher.api.responses import JobQueued, UploadOut
from matcher.container import Services
from matcher.errors import FileTooLargeError
from matcher.ingest.photo_age import GivenAge
from matcher.services.uploads import receive_media
from matcher.types import Principal

CHUNK = 1 << 20
UPLOAD_RESPONSES = {201: {"model": UploadOut, "description": "a photo, stored"}, 202: {"model": JobQueued, "description": "a video, queued"}}


async def read_capped(file: UploadFile, max_bytes: int) -> bytes:
    parts, total = [], 0
    while chunk := await file.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(f"The file is larger than the {max_bytes / (1024 * 1024):.0f} MB limit.")
        parts.append(chunk)
    return b"".join(parts)


async def read_upload(svc: Services, file: UploadFile) -> bytes:
    """An uploaded photo or video, read up to the larger of the two limits (which one applies
    is known only from the bytes: ``receive_media`` checks it)."""
    return await read_capped(file, max(svc.settings.max_upload_bytes, svc.settings.video_max_bytes))


async def accept_upload(svc: Services, who: Principal, record_id: int, side: str, file: UploadFile, given: GivenAge | None = None) -> JSONResponse:
    """201 with the faces of a photo, or 202 with the job that processes a video. ``given``:
    the child's age in it, if the uploader said (``services.uploads.parse_given_age``)."""
    data = await read_upload(svc, file)
    got = await run_in_threadpool(lambda: receive_media(svc, who, record_id, side, data, file.filename, given=given))
    if got.job is not None:
        return JSONResponse({"job": got.job.id, "status": got.job.status, "status_url": f"/v1/jobs/{got.job.id}"}, status_code=202)
    return JSONResponse({**got.outcome.__dict__, "warnings": list(got.outcome.warnings)}, status_code=201)
