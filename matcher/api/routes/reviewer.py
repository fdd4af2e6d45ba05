"""Reviewer routes: queue, candidate detail, decisions, ad-hoc search, face crops and photos."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep, limited, request_id, require
from matcher.api.responses import EXACT, CandidateOut, LeadOut, SearchOut
from matcher.api.schemas import DecisionIn
from matcher.api.uploads import read_capped
from matcher.services import review_queue as rq
from matcher.services.search import QueryFacts
from matcher.types import USER_ROLES, Principal, Role, Side

router = APIRouter(tags=["reviewers"])
REVIEW = require(Role.REVIEWER, Role.ADMIN)
ANY = require(*USER_ROLES)
NO_STORE = {"Cache-Control": "no-store, private", "X-Content-Type-Options": "nosniff"}


@router.get("/v1/queue", response_model=list[LeadOut], **EXACT)
def queue(
    svc: ServicesDep,
    status: str = Query("open", pattern="^(open|unsure|awaiting_second|confirmed|rejected|all)$"),
    kind: str | None = Query(None, pattern="^(match|duplicate|sighting)$"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10**9),
    who: Principal = Depends(REVIEW),
) -> list[dict]:
    """Candidates and sightings (``kind: "sighting"``, opened at their ``url``), strongest first
    (plausible before implausible, then false-match rate)."""
    rows = rq.leads(svc, None if status == "all" else status, limit + offset, kind)
    return rows[offset:]


@router.get("/v1/candidates/{candidate_id}", response_model=CandidateOut, **EXACT)
def candidate(svc: ServicesDep, candidate_id: Id, request: Request, who: Principal = Depends(REVIEW)) -> dict:
    """Both records, scores, false-match rate, age plausibility and evidence (audited)."""
    return svc.review.candidate(candidate_id, who.actor, who.role, request_id(request))


@router.post("/v1/candidates/{candidate_id}/decision", response_model=LeadOut, **EXACT)
def decide(svc: ServicesDep, candidate_id: Id, body: DecisionIn, request: Request, who: Principal = Depends(REVIEW)) -> dict:
    return svc.review.decide(candidate_id, body.verdict, who.actor, body.note, who.role, request_id(request))


@router.post("/v1/search", dependencies=[Depends(limited("search", "rate_searches_per_minute"))], response_model=SearchOut, **EXACT)
async def search(
    svc: ServicesDep,
    request: Request,
    file: UploadFile = File(...),
    side: str = Query("children", pattern="^(children|reports)$"),
    top: int = Query(20, ge=1, le=200),
    name: str | None = Form(None, max_length=256, description="the child's name as known (any script); ranks a matching name first within the list"),
    birth_year: int | None = Form(None, ge=1900, le=2100, description="birth year (or estimate); implausible ages rank last"),
    sex: str | None = Form(None, max_length=16),
    age_at_photo: float | None = Form(None, ge=0, le=30, description="the child's age in this photo, in years"),
    who: Principal = Depends(REVIEW),
) -> dict:
    """Ad-hoc search with a photo (audited). Nothing is stored. Names and facts go in the form
    body (never the URL, which proxies log), and are not written to the audit log."""
    data = await read_capped(file, svc.settings.max_upload_bytes)
    record_side = Side.from_plural(side)
    facts = QueryFacts(name or None, birth_year, sex or None, age_at_photo)
    analyzed, found = await run_in_threadpool(
        svc.capacity.run, svc.search.photo, data, record_side, top, who.actor, who.role, None, request_id(request), facts
    )  # bounded model pool
    return {"faces": len(analyzed.faces), "candidates": [c.as_dict() for c in found]}


@router.get("/v1/faces/{face_id}/crop", response_class=Response)
def face_crop(svc: ServicesDep, face_id: Id, who: Principal = Depends(ANY)) -> Response:
    """An aligned face crop (JPEG without metadata). Families: their own uploads only."""
    return Response(svc.records.crop(who, face_id), media_type="image/jpeg", headers=NO_STORE)


@router.get("/v1/media/{media_id}/image", response_class=Response)
def media_image(svc: ServicesDep, media_id: Id, who: Principal = Depends(ANY)) -> Response:
    """An original photo with EXIF/GPS and all other metadata removed."""
    data = svc.records.image(who, media_id)
    return Response(data, media_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg", headers=NO_STORE)
