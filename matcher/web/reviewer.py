"""Reviewers' pages: the queue by report (default) or as one flat list with filters, one
report's shortlist, one candidate side by side, decisions.

A reviewer works one report at a time: ``/review`` lists reports with their
shortlists in ranking order, ``/review/reports/{number}`` is one report's list, and a
candidate opened from it (``?report=NUMBER``) has previous / next inside that report; after
a decision the next open candidate of the same report follows, then the queue.

A candidate opened from the flat list with filters carries them in its address
(``?kind=duplicate&flag=...``, defaults left out): previous / next follow that filtered list,
and after a decision the next candidate of the list follows, then the filtered list itself.
Without a context, previous / next follow the open queue.

A decision is recorded only when the form says it was confirmed (``sure=yes``): the page's
script asks in place (``#confirm-step``); without it, the first post answers a confirm page.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep
from matcher.container import Services
from matcher.services.review import FLAGS
from matcher.types import CandidateStatus
from matcher.web.common import REVIEW, check_csrf, language, redirect, render
from matcher.web.cookies import WebSession
from matcher.web.decisions import VERDICTS, clean_note, not_yet
from matcher.web.messages import N_, value_words

router = APIRouter(include_in_schema=False)
STATUSES = tuple(dict.fromkeys([*CandidateStatus, "superseded", "all"]))
STATUS_PATTERN = "^(open|unsure|awaiting_second|confirmed|rejected|superseded|all)$"
NUMBER = "^[^\\x00-\\x1f]{1,128}$"
# the flat list's filters and their defaults (the open queue in queue order: no filter at all)
FLAT_DEFAULTS = {"status": "open", "kind": "", "flag": "", "shelter": "", "max_gap": "", "sort": "strength"}
# what the confirm step asks, per verdict
QUESTIONS = {
    "confirmed": N_("Confirm candidate %(id)s as a match and refer it for verification?"),
    "rejected": N_("Reject candidate %(id)s?"),
    "unsure": N_("Mark candidate %(id)s as unsure and escalate it?"),
}


def report_url(number: str) -> str:
    return "/review/reports/" + quote(number, safe="")


def flat_filters(status: str = "open", kind: str = "", flag: str = "", shelter: str = "", max_gap: str = "", sort: str = "strength") -> dict[str, str]:
    """The flat list's filters as a candidate's address carries them: valid values only,
    defaults left out (``{}``: the open queue in queue order). Pure."""
    gap = max_gap.strip()
    given = {
        "status": status if status in STATUSES else "open",
        "kind": kind if kind in ("match", "duplicate") else "",
        "flag": flag[:64],
        "shelter": shelter.strip()[:256],
        "max_gap": gap if gap.isdigit() and len(gap) <= 4 else "",
        "sort": sort if sort in ("strength", "score") else "strength",
    }
    return {k: v for k, v in given.items() if v != FLAT_DEFAULTS[k]}


def candidate_url(candidate_id: int, report: str | None = None, flat: dict | None = None) -> str:
    """A candidate in its context: inside a report (``?report=``), in a filtered flat list
    (its filters), or in the open queue (no query)."""
    url = f"/review/candidates/{candidate_id}"
    if report:
        return url + f"?report={quote(report, safe='')}"
    return url + (f"?{urlencode(flat)}" if flat else "")


def list_url(flat: dict | None) -> str:
    """The flat list with these filters."""
    return "/review?" + urlencode({"view": "all", **(flat or {})})


def _flat_ids(svc: Services, flat: dict) -> list[int]:
    """Ids of the flat list with these filters, in its order (as ``queue_page`` lists them)."""
    f = {**FLAT_DEFAULTS, **flat}
    gap = int(f["max_gap"]) if f["max_gap"] else None
    return [r["id"] for r in svc.review.filtered_queue(f["status"], f["kind"], f["flag"], f["shelter"], gap, f["sort"])]


@router.get("/review")
def queue_page(
    svc: ServicesDep,
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
) -> Response:
    gap = int(max_gap) if max_gap.strip().isdigit() else None
    filters = {"view": view, "status": status, "kind": kind, "flag": flag, "shelter": shelter, "max_gap": max_gap, "sort": sort}
    common = {"filters": filters, "statuses": STATUSES, "flags": FLAGS, "report_url": report_url, "candidate_url": candidate_url}
    common["open_sightings"] = svc.sightings.open_count()  # leads of their own kind: linked, counted
    if view == "all":
        rows = svc.review.filtered_queue(status, kind, flag, shelter.strip(), gap, sort)
        return render(request, "queue.html", s, rows=rows, flat=flat_filters(status, kind, flag, shelter, max_gap, sort), **common)
    grouped = svc.review.by_report(status, flag, shelter.strip(), gap, page)
    pager = {k: v for k, v in filters.items() if k not in ("kind", "sort")}
    return render(request, "queue_reports.html", s, q=grouped, pager_qs=urlencode(pager), **common)


@router.get("/review/reports/{number:path}")
def report_page(svc: ServicesDep, request: Request, number: str, s: WebSession = Depends(REVIEW)) -> Response:
    work = svc.review.report_shortlist(number[:128], s.principal.actor, s.principal.role, request.state.request_id)  # audited
    return render(request, "report_shortlist.html", s, w=work, report_url=report_url, candidate_url=candidate_url)


def _neighbours(ids: list[int], candidate_id: int) -> tuple[int | None, int | None]:
    if candidate_id in ids:
        i = ids.index(candidate_id)
        return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)
    return None, next((i for i in ids if i != candidate_id), None)


@router.get("/review/candidates/{candidate_id}")
def candidate_page(
    svc: ServicesDep,
    request: Request,
    candidate_id: Id,
    report: str = Query("", max_length=128),
    status: str = Query("open", max_length=32),
    kind: str = Query("", max_length=16),
    flag: str = Query("", max_length=64),
    shelter: str = Query("", max_length=256),
    max_gap: str = Query("", max_length=4),
    sort: str = Query("strength", max_length=16),
    s: WebSession = Depends(REVIEW),
) -> Response:
    case = svc.review.candidate(candidate_id, s.principal.actor, s.principal.role, request.state.request_id)  # audited
    ev = case.get("evidence") or {}
    pairs = svc.review.evidence_pairs(case, 3)
    others = svc.review.others_of_report(candidate_id, 50)
    context = report if report and report == case["report_id"] else ""
    flat = {} if context else flat_filters(status, kind, flag, shelter, max_gap, sort)
    ids = svc.review.report_open_ids(context) if context else _flat_ids(svc, flat) if flat else svc.review.open_ids(500)
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
        flat=flat,
        hidden=_context_fields(context, flat),
        names=case.get("name_agreement"),
        name_ranking=svc.settings.name_ranking,
        report_url=report_url,
        candidate_url=candidate_url,
        list_url=list_url,
    )


def _context_fields(report: str, flat: dict) -> dict[str, str]:
    """The hidden fields that carry a candidate's context through the decision form."""
    return {"report": report} if report else dict(flat)


@router.post("/review/candidates/{candidate_id}/decision")
def decide_page(
    svc: ServicesDep,
    request: Request,
    candidate_id: Id,
    verdict: str = Form(""),
    note: str = Form(""),
    sure: str = Form(""),
    report: str = Form("", max_length=128),
    status: str = Form("open", max_length=32),
    kind: str = Form("", max_length=16),
    flag: str = Form("", max_length=64),
    shelter: str = Form("", max_length=256),
    max_gap: str = Form("", max_length=4),
    sort: str = Form("strength", max_length=16),
    csrf: str = Form(""),
    s: WebSession = Depends(REVIEW),
) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    flat = {} if report else flat_filters(status, kind, flag, shelter, max_gap, sort)
    here = candidate_url(candidate_id, report or None, flat)
    asked = not_yet(
        request,
        s,
        tr,
        verdict,
        note,
        sure,
        title=tr.gettext("Candidate %(id)s") % {"id": candidate_id},
        questions=QUESTIONS,
        object_id=candidate_id,
        action=f"/review/candidates/{candidate_id}/decision",
        back=here,
        hidden=_context_fields(report, flat),
    )
    if asked is not None:  # nothing recorded yet
        return asked
    ids = svc.review.report_open_ids(report) if report else _flat_ids(svc, flat) if flat else svc.review.open_ids(500)
    out = svc.review.decide(candidate_id, verdict, s.principal.actor, clean_note(note), s.principal.role, request.state.request_id)
    s.flash.append(
        tr.gettext("Decision recorded for candidate %(id)s: %(verdict)s (now %(status)s).")
        % {"id": candidate_id, "verdict": value_words(tr, verdict), "status": value_words(tr, out["status"])}
    )
    if flat:  # the filtered list: its next candidate, then the list itself
        after = ids[ids.index(candidate_id) + 1 :] if candidate_id in ids else [i for i in ids if i != candidate_id]
        if after:
            return redirect(candidate_url(after[0], None, flat))
        s.flash.append(tr.gettext("No more candidates in this list."))
        return redirect(list_url(flat))
    rest = [i for i in ids if i != candidate_id]
    if candidate_id in ids:
        rest = ids[ids.index(candidate_id) + 1 :] or rest
    if rest:
        return redirect(candidate_url(rest[0], report or None))
    if report:
        s.flash.append(tr.gettext("Report %(number)s: no open candidates left.") % {"number": report})
    return redirect("/review")
