"""/v1/reports: families file a report, upload photos/videos, pick their child's face, see
status, withdraw. Reviewers and admins can read reports; nobody else can."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from matcher.api.deps import Id, ServicesDep, limited, require
from matcher.api.responses import EXACT, ErasedOut, FaceOfMedia, PickOut, RecordOut
from matcher.api.schemas import ReportIn
from matcher.api.uploads import UPLOAD_RESPONSES, accept_upload
from matcher.ingest.photo_age import parse_given_age
from matcher.types import Principal, Role, Side

router = APIRouter(prefix="/v1/reports", tags=["families"])
READERS = require(Role.FAMILY, Role.REVIEWER, Role.ADMIN)
WRITERS = require(Role.FAMILY, Role.ADMIN)

AGE_FIELD = Form(None, max_length=16, description="optional: the child's age in this photo, in years from 0 to 30 (decimals allowed, e.g. 2.5)")
YEAR_FIELD = Form(
    None, max_length=8, description="optional: the 4-digit year the photo was taken; becomes an age when the record has a birth year, else dates the photo"
)


@router.post("", status_code=201, response_model=RecordOut, **EXACT)
def create_report(svc: ServicesDep, body: ReportIn, who: Principal = Depends(WRITERS)) -> dict:
    """File a missing-child report. The family then adds photos or videos."""
    return svc.records.create(who, Side.REPORT, body.fields())


@router.get("", response_model=list[RecordOut], **EXACT)
def list_reports(
    svc: ServicesDep, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9), who: Principal = Depends(READERS)
) -> list[dict]:
    """A family sees its own reports; reviewers and admins see all."""
    return svc.records.list(who, Side.REPORT, limit, offset)


@router.get("/{report_id}", response_model=RecordOut, **EXACT)
def get_report(svc: ServicesDep, report_id: Id, who: Principal = Depends(READERS)) -> dict:
    """Details and status (received, under review, closed) — never candidates or scores."""
    return svc.records.get(report_id, who, Side.REPORT)


@router.post("/{report_id}/media", dependencies=[Depends(limited("upload", "rate_uploads_per_minute"))], responses=UPLOAD_RESPONSES)
async def upload_report_media(
    svc: ServicesDep,
    request: Request,
    report_id: Id,
    file: UploadFile = File(...),
    age: str | None = AGE_FIELD,
    year_taken: str | None = YEAR_FIELD,
    who: Principal = Depends(WRITERS),
) -> JSONResponse:
    """A photo (faces found at once) or a video (processed in the background: 202 + job URL).
    ``age`` / ``year_taken``: how old the child was in it, if known (invalid values: 422)."""
    given = parse_given_age(age, year_taken)  # before the upload is read or stored
    return await accept_upload(svc, who, report_id, Side.REPORT, file, given)


@router.get("/{report_id}/media/{media_id}/faces", response_model=list[FaceOfMedia], **EXACT)
def report_media_faces(svc: ServicesDep, report_id: Id, media_id: Id, who: Principal = Depends(READERS)) -> list[dict]:
    """Faces found in one of the report's own uploads, with links to their crops."""
    return svc.records.media_faces(who, report_id, media_id)


@router.post("/{report_id}/faces/{face_id}/pick", response_model=PickOut, **EXACT)
async def pick_face(svc: ServicesDep, report_id: Id, face_id: Id, who: Principal = Depends(WRITERS)) -> dict:
    """The family says which face in a group photo is their child."""
    return await run_in_threadpool(svc.records.pick_face, who, report_id, face_id)


@router.delete("/{report_id}", response_model=ErasedOut, **EXACT)
async def withdraw_report(svc: ServicesDep, report_id: Id, who: Principal = Depends(WRITERS)) -> dict:
    """Withdraw: the report, its photos, faces, embeddings, index entries and candidates are erased."""
    return await run_in_threadpool(svc.records.erase, who, report_id, "withdraw")
