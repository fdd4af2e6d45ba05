"""Reviewers' pages: the queue with filters, one candidate side by side, decisions."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from matcher.api.deps import Id, get_services
from matcher.services.container import Services
from matcher.services.review import FLAGS
from matcher.types import CandidateStatus, Verdict
from matcher.web.common import REVIEW, check_csrf, redirect, render
from matcher.web.cookies import WebSession

router = APIRouter(include_in_schema=False)
STATUSES = (*CandidateStatus, "all")
VERDICTS = tuple(Verdict)


@router.get("/review")
def queue_page(
    request: Request,
    status: str = Query("open", pattern="^(open|unsure|awaiting_second|confirmed|rejected|all)$"),
    kind: str = Query("", pattern="^(|match|duplicate)$"),
    flag: str = Query("", max_length=64),
    shelter: str = Query("", max_length=256),
    max_gap: str = Query("", max_length=4),
    sort: str = Query("strength", pattern="^(strength|score)$"),
    s: WebSession = Depends(REVIEW),
    svc: Services = Depends(get_services),
) -> Response:
    gap = int(max_gap) if max_gap.strip().isdigit() else None
    rows = svc.review.filtered_queue(status, kind, flag, shelter.strip(), gap, sort)
    filters = {"status": status, "kind": kind, "flag": flag, "shelter": shelter, "max_gap": max_gap, "sort": sort}
    return render(request, "queue.html", s, rows=rows, filters=filters, statuses=STATUSES, flags=FLAGS, qs=urlencode(filters))


@router.get("/review/candidates/{candidate_id}")
def candidate_page(request: Request, candidate_id: Id, s: WebSession = Depends(REVIEW), svc: Services = Depends(get_services)) -> Response:
    case = svc.review.candidate(candidate_id, s.principal.actor, s.principal.role, request.state.request_id)  # audited
    ev = case.get("evidence") or {}
    pairs = svc.review.evidence_pairs(case, 3)
    others = svc.review.others_of_report(candidate_id, 50)
    queue_ids = svc.review.open_ids(500)
    prev_id = next_id = None
    if candidate_id in queue_ids:
        i = queue_ids.index(candidate_id)
        prev_id = queue_ids[i - 1] if i > 0 else None
        next_id = queue_ids[i + 1] if i + 1 < len(queue_ids) else None
    elif queue_ids:
        next_id = queue_ids[0]
    return render(request, "candidate.html", s, c=case, ev=ev, age=ev.get("age") or {}, pairs=pairs, others=others, prev_id=prev_id, next_id=next_id, verdicts=VERDICTS)


@router.post("/review/candidates/{candidate_id}/decision")
def decide_page(request: Request, candidate_id: Id, verdict: str = Form(""), note: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(REVIEW), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    if verdict not in VERDICTS:
        s.flash.append("Choose confirm, reject or unsure.")
        return redirect(f"/review/candidates/{candidate_id}")
    queue_ids = svc.review.open_ids(500)
    out = svc.review.decide(candidate_id, verdict, s.principal.actor, note.strip()[:4000] or None, s.principal.role, request.state.request_id)
    s.flash.append(f"Decision recorded for candidate {candidate_id}: {verdict.replace('_', ' ')} (now {out['status'].replace('_', ' ')}).")
    rest = [i for i in queue_ids if i != candidate_id]
    if candidate_id in queue_ids:
        after = queue_ids[queue_ids.index(candidate_id) + 1:]
        rest = after or rest
    return redirect(f"/review/candidates/{rest[0]}" if rest else "/review")
