"""/v1/admin: users and tokens, audit log, erasure of any record, export of confirmed cases."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.api.deps import Id, get_services, request_id, require
from matcher.api.schemas import TokenIn, UserIn
from matcher.container import Services
from matcher.types import Principal

router = APIRouter(prefix="/v1/admin", tags=["admin"])
ADMIN = require("admin")


@router.get("/users")
def list_users(who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> list[dict]:
    return svc.accounts.list_users()


@router.post("/users", status_code=201)
def add_user(body: UserIn, who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> dict:
    return svc.accounts.add_user(body.name, body.role, who.actor)


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> dict:
    """A new bearer token, shown once."""
    return svc.accounts.create_token(body.user, body.days, who.actor)


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: Id, who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> dict:
    return svc.accounts.revoke_token(token_id, who.actor)


@router.get("/audit")
def audit(
    since: dt.datetime | None = None, limit: int = Query(1000, ge=1, le=100_000), who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)
) -> list[dict]:
    return svc.audit.events(since.replace(tzinfo=None) if since else None, limit)


@router.delete("/records/{record_id}")
async def erase_record(record_id: Id, who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> dict:
    """Erase a record: media files, faces, embeddings, index entries, candidates; a tombstone stays."""
    return await run_in_threadpool(svc.records.erase, who, record_id, "erase")


@router.get("/export/{candidate_id}", response_class=Response)
def export_case(candidate_id: Id, request: Request, who: Principal = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    """A confirmed case for the verification team: ZIP of case.json and the face crops (audited)."""
    data = svc.export.case(candidate_id, who.actor, who.role, request_id(request))
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="case-{candidate_id}.zip"', "Cache-Control": "no-store"}
    )
