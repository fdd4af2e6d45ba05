"""Reviewers' pages for sightings (docs/sightings.md): the list, one sighting (its best frames, the
record, the source, and an HTML5 player that starts where the child is seen), decisions,
and the stored original streamed with ``Range`` support (reviewers and admins only,
``no-store``). Every view and decision goes through ``services.sightings`` (audited).

A decision is recorded only when the form says it was confirmed (``sure=yes``): the page's
script asks in place; without it, the first post answers a confirm page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep
from matcher.api.routes.sightings import is_first_request, ranged_response
from matcher.types import CandidateStatus
from matcher.web.common import IMG_HEADERS, PAGE_CSP, REVIEW, check_csrf, language, redirect, render
from matcher.web.cookies import WebSession
from matcher.web.decisions import VERDICTS, clean_note, not_yet
from matcher.web.messages import N_, value_words

router = APIRouter(include_in_schema=False)
STATUSES = (*CandidateStatus, "all")
# the sighting page plays the stored original from this origin
PLAYER_CSP = PAGE_CSP + "; media-src 'self'"
# what the confirm step asks, per verdict
QUESTIONS = {
    "confirmed": N_("Confirm sighting %(id)s: the child was seen there?"),
    "rejected": N_("Reject sighting %(id)s? Its frames will be erased."),
    "unsure": N_("Mark sighting %(id)s as unsure and escalate it?"),
}


def sighting_url(sighting_id: int) -> str:
    return f"/review/sightings/{sighting_id}"


@router.get("/review/sightings")
def sightings_page(
    svc: ServicesDep,
    request: Request,
    status: str = Query("open", pattern="^(open|unsure|awaiting_second|confirmed|rejected|all)$"),
    s: WebSession = Depends(REVIEW),
) -> Response:
    rows = svc.sightings.list(None if status == "all" else status, 500)
    return render(request, "sightings.html", s, rows=rows, current=status, statuses=STATUSES, sighting_url=sighting_url)


@router.get("/review/sightings/{sighting_id}")
def sighting_page(svc: ServicesDep, request: Request, sighting_id: Id, s: WebSession = Depends(REVIEW)) -> Response:
    case = svc.sightings.get(sighting_id, s.principal.actor, s.principal.role, request.state.request_id)  # audited
    ids = svc.sightings.open_ids()
    after = ids[ids.index(sighting_id) + 1 :] if sighting_id in ids else ids
    nxt = after[0] if after else None
    start, end = case["span"]
    fragment = f"#t={start:.2f},{end:.2f}" if start is not None and end is not None else ""
    response = render(
        request,
        "sighting.html",
        s,
        c=case,
        ev=case.get("evidence") or {},
        verdicts=VERDICTS,
        next_id=nxt,
        video_src=f"/review/sightings/{sighting_id}/video{fragment}",
        sighting_url=sighting_url,
    )
    response.headers["Content-Security-Policy"] = PLAYER_CSP
    return response


@router.post("/review/sightings/{sighting_id}/decision")
def decide_page(
    svc: ServicesDep,
    request: Request,
    sighting_id: Id,
    verdict: str = Form(""),
    note: str = Form(""),
    sure: str = Form(""),
    csrf: str = Form(""),
    s: WebSession = Depends(REVIEW),
) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    asked = not_yet(
        request,
        s,
        tr,
        verdict,
        note,
        sure,
        title=tr.gettext("Sighting %(id)s") % {"id": sighting_id},
        questions=QUESTIONS,
        object_id=sighting_id,
        action=f"/review/sightings/{sighting_id}/decision",
        back=sighting_url(sighting_id),
    )
    if asked is not None:  # nothing recorded yet
        return asked
    out = svc.sightings.decide(sighting_id, verdict, s.principal.actor, clean_note(note), s.principal.role, request.state.request_id)
    s.flash.append(
        tr.gettext("Decision recorded for sighting %(id)s: %(verdict)s (now %(status)s).")
        % {"id": sighting_id, "verdict": value_words(tr, verdict), "status": value_words(tr, out["status"])}
    )
    if out["erased_blobs"]:
        s.flash.append(tr.gettext("Its frames were erased, and the footage too where no other sighting needs it."))
    rest = [i for i in svc.sightings.open_ids() if i != sighting_id]
    return redirect(sighting_url(rest[0]) if rest else "/review/sightings")


@router.get("/review/sightings/{sighting_id}/video")
def sighting_video(svc: ServicesDep, request: Request, sighting_id: Id, s: WebSession = Depends(REVIEW)) -> Response:
    header = request.headers.get("range")
    data, media_type = svc.sightings.video(sighting_id, s.principal.actor, s.principal.role, is_first_request(header), request.state.request_id)
    return ranged_response(data, media_type, header, IMG_HEADERS)


@router.get("/img/sightings/faces/{face_id}")
def sighting_crop(svc: ServicesDep, face_id: Id, s: WebSession = Depends(REVIEW)) -> Response:
    return Response(svc.sightings.crop(face_id, s.principal.actor, s.principal.role), media_type="image/jpeg", headers=IMG_HEADERS)
