"""Reading an upload with a cap, and running its analysis off the event loop."""

from __future__ import annotations

from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from matcher.services.accounts import Principal
from matcher.errors import FileTooLargeError
from matcher.services.container import Services

CHUNK = 1 << 20


async def read_capped(file: UploadFile, max_bytes: int) -> bytes:
    parts, total = [], 0
    while chunk := await file.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(f"The file is larger than the {max_bytes / (1024 * 1024):.0f} MB limit.")
        parts.append(chunk)
    return b"".join(parts)


async def accept_upload(svc: Services, who: Principal, record_id: int, side: str, file: UploadFile) -> JSONResponse:
    from matcher.imaging import sniff_format
    from matcher.video import sniff_video

    settings = svc.settings
    data = await read_capped(file, max(settings.max_upload_bytes, settings.video_max_bytes))
    is_video = sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None
    if not is_video and len(data) > settings.max_upload_bytes:
        raise FileTooLargeError(f"Photos are limited to {settings.max_upload_mb:g} MB.")
    if is_video:
        svc.records.check_writable(who, record_id, side)
        job = svc.jobs.submit("video", who.user_id, lambda: svc.records.upload(who, record_id, side, data, file.filename).__dict__)
        return JSONResponse({"job": job.id, "status": job.status, "status_url": f"/v1/jobs/{job.id}"}, status_code=202)
    outcome = await run_in_threadpool(svc.records.upload, who, record_id, side, data, file.filename)
    return JSONResponse({**outcome.__dict__, "warnings": list(outcome.warnings)}, status_code=201)
