"""/v1/children: shelter staff register children, add photos, import archives."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from matcher.api.deps import Id, ServicesDep, limited, require
from matcher.api.responses import EXACT, JobQueued, RecordOut
from matcher.api.schemas import ChildIn, ChildPatch, ImportIn
from matcher.api.uploads import UPLOAD_RESPONSES, accept_upload, read_capped
from matcher.errors import ForbiddenError, InputError
from matcher.ingest.photo_age import parse_given_age
from matcher.types import Principal, Role, Side

router = APIRouter(prefix="/v1/children", tags=["shelters"])
READERS = require(Role.SHELTER, Role.REVIEWER, Role.ADMIN)
WRITERS = require(Role.SHELTER, Role.ADMIN)

AGE_FIELD = Form(None, max_length=16, description="optional: the child's age in this photo, in years from 0 to 30 (decimals allowed, e.g. 2.5)")
YEAR_FIELD = Form(
    None, max_length=8, description="optional: the 4-digit year the photo was taken; becomes an age when the record has a birth year, else dates the photo"
)


@router.post("", status_code=201, response_model=RecordOut, **EXACT)
def create_child(svc: ServicesDep, body: ChildIn, who: Principal = Depends(WRITERS)) -> dict:
    return svc.records.create(who, Side.CHILD, body.fields())


@router.get("", response_model=list[RecordOut], **EXACT)
def list_children(
    svc: ServicesDep, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9), who: Principal = Depends(READERS)
) -> list[dict]:
    return svc.records.list(who, Side.CHILD, limit, offset)


@router.get("/{child_id}", response_model=RecordOut, **EXACT)
def get_child(svc: ServicesDep, child_id: Id, who: Principal = Depends(READERS)) -> dict:
    return svc.records.get(child_id, who, Side.CHILD)


@router.patch("/{child_id}", response_model=RecordOut, **EXACT)
def update_child(svc: ServicesDep, child_id: Id, body: ChildPatch, who: Principal = Depends(WRITERS)) -> dict:
    fields = body.fields()
    fields.pop("number", None)
    return svc.records.update(who, child_id, Side.CHILD, fields)


@router.post("/{child_id}/media", dependencies=[Depends(limited("upload", "rate_uploads_per_minute"))], responses=UPLOAD_RESPONSES)
async def upload_child_media(
    svc: ServicesDep,
    child_id: Id,
    file: UploadFile = File(...),
    age: str | None = AGE_FIELD,
    year_taken: str | None = YEAR_FIELD,
    who: Principal = Depends(WRITERS),
) -> JSONResponse:
    """A photo or a video of a child in care; ``age`` / ``year_taken`` as for reports."""
    given = parse_given_age(age, year_taken)
    return await accept_upload(svc, who, child_id, Side.CHILD, file, given)


@router.post("/import", status_code=202, response_model=JobQueued, **EXACT)
def import_archive(svc: ServicesDep, body: ImportIn, who: Principal = Depends(WRITERS)) -> dict:
    """Index a folder (one sub-folder per child) that lies under the server's import root."""
    root = svc.settings.import_root
    if root is None:
        raise ForbiddenError("Importing from the server is switched off (MATCHER_IMPORT_ROOT is not set).")
    base = root.resolve()
    folder = (base / body.folder).resolve()
    if base != folder and base not in folder.parents:
        raise ForbiddenError("That folder is outside the import root.")
    if not folder.is_dir():
        raise InputError(f"No folder '{body.folder}' under the import root.")
    job = svc.jobs.submit("import", who.user_id, {"folder": str(folder), "actor": who.actor})
    return {"job": job.id, "status": job.status, "status_url": f"/v1/jobs/{job.id}"}


@router.post("/import/zip", status_code=202, dependencies=[Depends(limited("upload", "rate_uploads_per_minute"))], response_model=JobQueued, **EXACT)
async def import_zip(svc: ServicesDep, file: UploadFile = File(...), who: Principal = Depends(WRITERS)) -> dict:
    """A ZIP with a folder per child (folder name = record number), or with a ``manifest.csv``
    (``record_id,path[,name,sex,birth_year,shelter,found_on,found_at,notes]``) and the photos.
    Checked at once (not a ZIP, encrypted, too large, a ZIP bomb: 4xx, nothing stored), then
    imported by a background job; ``GET /v1/jobs/{id}`` shows its progress and result."""
    data = await read_capped(file, svc.settings.max_archive_bytes)
    job = await run_in_threadpool(svc.imports.submit_zip, who, data, file.filename)
    return {"job": job.id, "status": job.status, "status_url": f"/v1/jobs/{job.id}"}
