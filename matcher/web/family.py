"""Families' pages: their reports, a new report, adding a photo or a video, picking their
child in a group photo. A family sees its own reports only (``RecordService`` answers 404
for anything else) and never a candidate or a score."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from matcher.api.deps import Id, ServicesDep
from matcher.api.schemas import ReportIn
from matcher.types import FamilyStatus, Side
from matcher.web.common import FAMILY, check_csrf, language, redirect, render
from matcher.web.cookies import WebSession
from matcher.web.forms import field_errors, typed_fields
from matcher.web.i18n import Language
from matcher.web.messages import N_
from matcher.web.photos import read_slots, store_slots

router = APIRouter(include_in_schema=False)
NEW_SLOTS = 3  # photo rows on the report form (more can be added on the report's page)
ADD_SLOTS = 3
REPORT_FORM = ("name", "sex", "birth_year", "birth_date", "last_seen_on", "last_seen_at", "languages", "notes", "contact")
LABELS = {
    "name": N_("Child's name"),
    "sex": N_("Sex"),
    "birth_year": N_("Year of birth"),
    "birth_date": N_("Date of birth"),
    "last_seen_on": N_("Date last seen"),
    "last_seen_at": N_("Place last seen"),
    "languages": N_("Languages"),
    "notes": N_("Notes"),
    "contact": N_("How we can reach you"),
}


def _report_fields(form: dict, tr: Language) -> tuple[dict | None, list[str]]:
    data = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    try:
        return ReportIn(**data).fields(), []
    except ValidationError as exc:
        return None, field_errors(exc, LABELS, tr)


@router.get("/my")
def family_home(svc: ServicesDep, request: Request, s: WebSession = Depends(FAMILY)) -> Response:
    reports = svc.records.list(s.principal, Side.REPORT, 200)
    return render(request, "family_home.html", s, reports=reports)


@router.get("/my/new")
def new_report_form(request: Request, s: WebSession = Depends(FAMILY)) -> Response:
    return render(request, "family_new.html", s, form={}, errors=[], slots=NEW_SLOTS)


@router.post("/my/new")
async def new_report(svc: ServicesDep, request: Request, s: WebSession = Depends(FAMILY)) -> Response:
    tr = language(request)
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    fields, errors = _report_fields({k: form.get(k, "") for k in REPORT_FORM}, tr)
    slots, slot_errors = read_slots(form, tr, NEW_SLOTS)
    errors += slot_errors
    if fields is None or errors:  # nothing is filed until the whole form is right
        return render(request, "family_new.html", s, 422, form=typed_fields(form), errors=errors, slots=NEW_SLOTS)
    report = await run_in_threadpool(svc.records.create, s.principal, Side.REPORT, fields)
    s.flash.append(tr.gettext("Your report was received."))
    for message in await store_slots(request, svc, s.principal, report["id"], Side.REPORT, slots, tr):
        s.flash.append(message)
    if not slots:
        s.flash.append(tr.gettext("You can add photos or a video below."))
    return redirect(f"/my/reports/{report['id']}")


@router.get("/my/reports/{report_id}")
def report_page(svc: ServicesDep, request: Request, report_id: Id, s: WebSession = Depends(FAMILY)) -> Response:
    report = svc.records.get(report_id, s.principal, Side.REPORT)  # 404 unless it is this family's own
    groups = []
    for m in report["media"]:
        if m["faces"] > 1:
            faces = svc.records.media_faces(s.principal, report_id, m["id"])
            groups.append({"media": m, "faces": faces, "picked": any(f["selected"] for f in faces)})
    closed = report["status"] == FamilyStatus.CLOSED
    return render(request, "family_report.html", s, report=report, groups=groups, closed=closed, slots=ADD_SLOTS, form={})


@router.post("/my/reports/{report_id}/media")
async def add_media(svc: ServicesDep, request: Request, report_id: Id, s: WebSession = Depends(FAMILY)) -> Response:
    tr = language(request)
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    slots, errors = read_slots(form, tr, ADD_SLOTS)
    if errors:  # checked before any file is read or stored
        for e in errors:
            s.flash.append(e)
        s.flash.append(tr.gettext("Nothing was added. Please correct this and send the photos again."))
        return redirect(f"/my/reports/{report_id}")
    svc.records.check_writable(s.principal, report_id, Side.REPORT)  # 404 for another family's report
    if not slots:
        s.flash.append(tr.gettext("Choose a photo or a video first."))
        return redirect(f"/my/reports/{report_id}")
    for message in await store_slots(request, svc, s.principal, report_id, Side.REPORT, slots, tr):
        s.flash.append(message)
    return redirect(f"/my/reports/{report_id}")


@router.post("/my/reports/{report_id}/faces/{face_id}/pick")
async def pick_face(svc: ServicesDep, request: Request, report_id: Id, face_id: Id, s: WebSession = Depends(FAMILY)) -> Response:
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    await run_in_threadpool(svc.records.pick_face, s.principal, report_id, face_id)
    s.flash.append(language(request).gettext("Thank you. We will compare this face with the children in care."))
    return redirect(f"/my/reports/{report_id}")
