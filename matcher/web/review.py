"""Reviewers' pages: the queue by report (default) or as one flat list with filters, one
report's shortlist, one candidate side by side, decisions.

A reviewer works one report at a time (issue 17): ``/review`` lists reports with their
shortlists in ranking order, ``/review/reports/{number}`` is one report's list, and a
candidate opened from it (``?report=NUMBER``) has previous / next inside that report; after
a decision the next open candidate of the same report follows, then the queue.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from matcher.api.deps import Id, get_services
from matcher.services.container import Services
from matcher.services.review import FLAGS
from matcher.types import CandidateStatus, Verdict
from matcher.web.common import REVIEW, check_csrf, redirect, render
from matcher.web.cookies import WebSession

router = APIRouter(include_in_schema=False)
STATUSES = tuple(dict.fromkeys([*CandidateStatus, "superseded", "all"]))
VERDICTS = tuple(Verdict)
STATUS_PATTERN = "^(open|unsure|awaiting_second|confirmed|rejected|superseded|all)$"
NUMBER = "^[^\\x00-\\x1f]{1,128}$"


def report_url(number: str) -> str:
    return "/review/reports/" + quote(number, safe="")


def candidate_url(candidate_id: int, report: str | None = None) -> str:
    return f"/review/candidates/{candidate_id}" + (f"?report={quote(report, safe='')}" if report else "")


@router.get("/review")
def queue_page(
    request: Request,
    view: str = Query("report", pattern="^(report|all)$"),
    status: str = Query("open", pattern=STATUS_PATTERN),
    kind: str = Query("", pattern="^(|match|duplicate)$"),
    flag: str = Query("", max_length=64),
    shelter: str = Query("", max_length=256),
    max_gap: str = Query("", max_length=4),
    sort: str = Query("strength", pattern="^(strength|score)$"),
    page: int = Query(1, ge=1, le=100_000),
    s: WebSession = Depends(REVIEW),
    svc: Services = Depends(get_services),
) -> Response:
    gap = int(max_gap) if max_gap.strip().isdigit() else None
    filters = {"view": view, "status": status, "kind": kind, "flag": flag, "shelter": shelter, "max_gap": max_gap, "sort": sort}
    common = {"filters": filters, "statuses": STATUSES, "flags": FLAGS, "report_url": report_url, "candidate_url": candidate_url}
    if view == "all":
        rows = svc.review.filtered_queue(status, kind, flag, shelter.strip(), gap, sort)
        return render(request, "queue.html", s, rows=rows, **common)
    grouped = svc.review.by_report(status, flag, shelter.strip(), gap, page)
    pager = {k: v for k, v in filters.items() if k not in ("kind", "sort")}
    return render(request, "queue_reports.html", s, q=grouped, pager_qs=urlencode(pager), **common)


@router.get("/review/reports/{number:path}")
def report_page(request: Request, number: str, s: WebSession = Depends(REVIEW), svc: Services = Depends(get_services)) -> Response:
    work = svc.review.report_shortlist(number[:128], s.principal.actor, s.principal.role, request.state.request_id)  # audited
    return render(request, "report_shortlist.html", s, w=work, report_url=report_url, candidate_url=candidate_url)


def _neighbours(ids: list[int], candidate_id: int) -> tuple[int | None, int | None]:
    if candidate_id in ids:
        i = ids.index(candidate_id)
        return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)
    return None, (ids[0] if ids else None)


@router.get("/review/candidates/{candidate_id}")
def candidate_page(
    request: Request,
    candidate_id: Id,
    report: str = Query("", max_length=128),
    s: WebSession = Depends(REVIEW),
    svc: Services = Depends(get_services),
) -> Response:
    case = svc.review.candidate(candidate_id, s.principal.actor, s.principal.role, request.state.request_id)  # audited
    ev = case.get("evidence") or {}
    pairs = svc.review.evidence_pairs(case, 3)
    others = svc.review.others_of_report(candidate_id, 50)
    context = report if report and report == case["report_id"] else ""
    ids = svc.review.report_open_ids(context) if context else svc.review.open_ids(500)
    prev_id, next_id = _neighbours(ids, candidate_id)
    return render(
        request,
        "candidate.html",
        s,
        c=case,
        ev=ev,
        age=ev.get("age") or {},
        pairs=pairs,
        others=others,
        prev_id=prev_id,
        next_id=next_id,
        verdicts=VERDICTS,
        report=context,
        names=case.get("name_agreement"),
        name_ranking=svc.settings.name_ranking,
        report_url=report_url,
        candidate_url=candidate_url,
    )


@router.post("/review/candidates/{candidate_id}/decision")
def decide_page(
    request: Request,
    candidate_id: Id,
    verdict: str = Form(""),
    note: str = Form(""),
    report: str = Form("", max_length=128),
    csrf: str = Form(""),
    s: WebSession = Depends(REVIEW),
    svc: Services = Depends(get_services),
) -> Response:
    check_csrf(s, csrf)
    if verdict not in VERDICTS:
        s.flash.append("Choose confirm, reject or unsure.")
        return redirect(candidate_url(candidate_id, report or None))
    ids = svc.review.report_open_ids(report) if report else svc.review.open_ids(500)
    out = svc.review.decide(candidate_id, verdict, s.principal.actor, note.strip()[:4000] or None, s.principal.role, request.state.request_id)
    s.flash.append(f"Decision recorded for candidate {candidate_id}: {verdict.replace('_', ' ')} (now {out['status'].replace('_', ' ')}).")
    rest = [i for i in ids if i != candidate_id]
    if candidate_id in ids:
        rest = ids[ids.index(candidate_id) + 1 :] or rest
    if rest:
        return redirect(candidate_url(rest[0], report or None))
    if report:
        s.flash.append(f"Report {report}: no open candidates left.")
    return redirect("/review")
