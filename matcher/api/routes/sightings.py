"""Reviewer routes for sightings (docs/sightings.md): ``POST /v1/sweeps`` (a video or field photo swept
in the background: 202 + job), the sightings list, one sighting (audited), decisions, its
crops, and its source video with ``Range`` support (``no-store``, reviewers and admins only).
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from matcher.api.deps import Id, ServicesDep, limited, request_id, require
from matcher.api.responses import EXACT, JobQueued, SightingOut
from matcher.api.schemas import DecisionIn
from matcher.api.uploads import read_upload
from matcher.errors import InvalidFieldError
from matcher.types import Principal, Role

router = APIRouter(tags=["reviewers"])
REVIEW = require(Role.REVIEWER, Role.ADMIN)
NO_STORE = {"Cache-Control": "no-store, private", "X-Content-Type-Options": "nosniff"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` (inclusive) of a single ``Range: bytes=...`` header, None for the whole
    file (no header, several ranges, or one we do not understand: ignoring it is allowed).
    Raises ``ValueError`` when the range lies outside the file (answer 416)."""
    m = _RANGE.match((header or "").strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # "bytes=-N": the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    first = int(m.group(1))
    last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if first >= size or last < first:
        raise ValueError("range not satisfiable")
    return first, last


def ranged_response(data: bytes, media_type: str, header: str | None, extra_headers: dict) -> Response:
    """The whole file (200) or the requested part (206), always with ``Accept-Ranges``."""
    headers = {**extra_headers, "Accept-Ranges": "bytes"}
    try:
        part = byte_range(header, len(data))
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(data)}"})
    if part is None:
        return Response(data, media_type=media_type, headers=headers)
    first, last = part
    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    return Response(data[first : last + 1], status_code=206, media_type=media_type, headers=headers)


def is_first_request(header: str | None) -> bool:
    """A player's first request (no range, or from byte 0): the one that is audited."""
    try:
        part = byte_range(header, 2**62)
    except ValueError:
        return False
    return part is None or part[0] == 0


def parse_taken(value: str | None) -> dt.date | None:
    if not value or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidFieldError("taken_on: the date the footage was shot must be YYYY-MM-DD.") from None


@router.post("/v1/sweeps", status_code=202, dependencies=[Depends(limited("search", "rate_searches_per_minute"))], responses={202: {"model": JobQueued}})
async def sweep(
    svc: ServicesDep,
    file: UploadFile = File(..., description="a video (MP4, MOV, WebM, AVI, 3GP) or a field photo"),
    side: str = Form("both", pattern="^(reports|children|both)$", description="which records to search"),
    top: int = Form(5, ge=1, le=100, description="candidates listed per track or face in the job result"),
    taken_on: str | None = Form(None, max_length=10, description="date the footage was shot (YYYY-MM-DD), if known"),
    place: str | None = Form(None, max_length=256, description="where it was shot, kept with a sighting"),
    who: Principal = Depends(REVIEW),
) -> JSONResponse:
    """Sweep footage or a field photo for missing children: every face track is searched
    against the open records; those whose best match passes the queue rule become
    sightings. 202 with a job; its result lists the sightings and every track with its
    best candidates. Nothing but the sightings is stored."""
    taken = parse_taken(taken_on)
    data = await read_upload(svc, file)
    job = await run_in_threadpool(svc.sightings.submit, who, data, file.filename, side, top, taken, place or None)
    return JSONResponse({"job": job.id, "status": job.status, "status_url": f"/v1/jobs/{job.id}"}, status_code=202)


@router.get("/v1/sightings", response_model=list[SightingOut], **EXACT)
def sightings(
    svc: ServicesDep,
    status: str = Query("open", pattern="^(open|unsure|awaiting_second|confirmed|rejected|all)$"),
    record: str | None = Query(None, max_length=128, description="only this record's number"),
    limit: int = Query(200, ge=1, le=1000),
    who: Principal = Depends(REVIEW),
) -> list[dict]:
    """Sightings, strongest first (plausible before implausible, then false-match rate)."""
    return svc.sightings.list(None if status == "all" else status, limit, record)


@router.get("/v1/sightings/{sighting_id}", response_model=SightingOut, **EXACT)
def sighting(svc: ServicesDep, sighting_id: Id, request: Request, who: Principal = Depends(REVIEW)) -> dict:
    """The record, the source (file, sha256, who swept it, when), the time span, the best
    frames, the score and its calibrated rate, the decisions (audited)."""
    return svc.sightings.get(sighting_id, who.actor, who.role, request_id(request))


@router.post("/v1/sightings/{sighting_id}/decision", response_model=SightingOut, **EXACT)
def decide(svc: ServicesDep, sighting_id: Id, body: DecisionIn, request: Request, who: Principal = Depends(REVIEW)) -> dict:
    """Confirm (records where and when the child was seen; the record stays open), reject
    (its frames are erased, and the source once no sighting needs it) or unsure."""
    return svc.sightings.decide(sighting_id, body.verdict, who.actor, body.note, who.role, request_id(request))


@router.get("/v1/sightings/faces/{face_id}/crop", response_class=Response)
def sighting_crop(svc: ServicesDep, face_id: Id, who: Principal = Depends(REVIEW)) -> Response:
    return Response(svc.sightings.crop(face_id, who.actor, who.role), media_type="image/jpeg", headers=NO_STORE)


@router.get("/v1/sightings/{sighting_id}/video", response_class=Response)
def sighting_video(svc: ServicesDep, sighting_id: Id, request: Request, who: Principal = Depends(REVIEW)) -> Response:
    """The stored original (a video, or a field photo without its metadata), in byte ranges."""
    header = request.headers.get("range")
    data, media_type = svc.sightings.video(sighting_id, who.actor, who.role, is_first_request(header), request_id(request))
    return ranged_response(data, media_type, header, NO_STORE)
