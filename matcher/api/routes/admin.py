"""/v1/admin: users and tokens, audit log, erasure of any record, export of confirmed cases."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep, request_id, require
from matcher.api.responses import EXACT, AuditEventOut, ErasedOut, RevokedOut, TokenOut, UserOut
from matcher.api.schemas import TokenIn, UserIn
from matcher.types import Principal

router = APIRouter(prefix="/v1/admin", tags=["admin"])
ADMIN = require("admin")


@router.get("/users", response_model=list[UserOut], **EXACT)
def list_users(svc: ServicesDep, who: Principal = Depends(ADMIN)) -> list[dict]:
    return svc.accounts.list_users()


@router.post("/users", status_code=201, response_model=UserOut, **EXACT)
def add_user(svc: ServicesDep, body: UserIn, who: Principal = Depends(ADMIN)) -> dict:
    return svc.accounts.add_user(body.name, body.role, who.actor)


@router.post("/tokens", status_code=201, response_model=TokenOut, **EXACT)
def create_token(svc: ServicesDep, body: TokenIn, who: Principal = Depends(ADMIN)) -> dict:
    """A new bearer token, shown once."""
    return svc.accounts.create_token(body.user, body.days, who.actor)


@router.delete("/tokens/{token_id}", response_model=RevokedOut, **EXACT)
def revoke_token(svc: ServicesDep, token_id: Id, who: Principal = Depends(ADMIN)) -> dict:
    return svc.accounts.revoke_token(token_id, who.actor)


@router.get("/audit", response_model=list[AuditEventOut], **EXACT)
def audit(svc: ServicesDep, since: dt.datetime | None = None, limit: int = Query(1000, ge=1, le=100_000), who: Principal = Depends(ADMIN)) -> list[dict]:
    return svc.audit.events(since.replace(tzinfo=None) if since else None, limit)


@router.delete("/records/{record_id}", response_model=ErasedOut, **EXACT)
async def erase_record(svc: ServicesDep, record_id: Id, who: Principal = Depends(ADMIN)) -> dict:
    """Erase a record: media files, faces, embeddings, index entries, candidates; a tombstone stays."""
    return await run_in_threadpool(svc.records.erase, who, record_id, "erase")


@router.get("/export/{candidate_id}", response_class=Response)
def export_case(svc: ServicesDep, candidate_id: Id, request: Request, who: Principal = Depends(ADMIN)) -> Response:
    """A confirmed case for the verification team: ZIP of case.json and the face crops (audited)."""
    data = svc.export.case(candidate_id, who.actor, who.role, request_id(request))
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="case-{candidate_id}.zip"', "Cache-Control": "no-store"}
    )
