"""Families' pages: their reports, a new report, adding a photo or a video, picking their
child in a group photo. A family sees its own reports only (``RecordService`` answers 404
for anything else) and never a candidate or a score."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from matcher.api.deps import Id, get_services
from matcher.api.schemas import ReportIn
from matcher.api.uploads import read_upload
from matcher.errors import MatcherError
from matcher.services.accounts import Principal
from matcher.services.container import Services
from matcher.services.photo_age import GivenAge, parse_given_age
from matcher.services.uploads import receive_media
from matcher.types import FamilyStatus, Side
from matcher.web.common import FAMILY, check_csrf, redirect, render
from matcher.web.cookies import WebSession

router = APIRouter(include_in_schema=False)
REPORT_FORM = ("name", "sex", "birth_year", "birth_date", "last_seen_on", "last_seen_at", "languages", "notes", "contact")
LABELS = {
    "name": "Child's name",
    "sex": "Sex",
    "birth_year": "Year of birth",
    "birth_date": "Date of birth",
    "last_seen_on": "Date last seen",
    "last_seen_at": "Place last seen",
    "languages": "Languages",
    "notes": "Notes",
    "contact": "How we can reach you",
}


def _report_fields(form: dict) -> tuple[dict | None, list[str]]:
    data = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    try:
        return ReportIn(**data).fields(), []
    except ValidationError as exc:
        return None, [f"{LABELS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()]


def _field_message(exc: MatcherError) -> str:
    """``"age: the child's age ..."`` -> ``"the child's age ..."`` (the form shows its own labels)."""
    return exc.message.split(": ", 1)[-1]


async def _store_upload(request: Request, svc: Services, who: Principal, report_id: int, upload: UploadFile, given: GivenAge | None = None) -> str | None:
    """Store one photo or video (the API's path); a message for the family, None without a file."""
    data = await read_upload(svc, upload)
    if not data:
        return None
    await run_in_threadpool(svc.rate_limits.check, who.token_id, "upload", svc.settings.rate_uploads_per_minute)  # counted in the database
    got = await run_in_threadpool(lambda: receive_media(svc, who, report_id, Side.REPORT, data, upload.filename, given=given))
    if got.job is not None:
        return "Thank you. The video is being processed; this can take a few minutes. Reload this page to see the faces found."
    if got.outcome.needs_pick:
        return "Thank you. The photo shows several faces: please choose your child below."
    if not got.outcome.faces:
        return "Thank you. We could not find a face in this photo; please add a clearer, recent photo if you have one."
    return "Thank you. The photo was received."


@router.get("/my")
def family_home(request: Request, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    reports = svc.records.list(s.principal, Side.REPORT, 200)
    return render(request, "family_home.html", s, reports=reports)


@router.get("/my/new")
def new_report_form(request: Request, s: WebSession = Depends(FAMILY)) -> Response:
    return render(request, "family_new.html", s, form={}, errors=[])


@router.post("/my/new")
async def new_report(request: Request, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    fields, errors = _report_fields({k: form.get(k, "") for k in REPORT_FORM})
    given = None
    try:
        given = parse_given_age(str(form.get("age", "")), str(form.get("year_taken", "")))
    except MatcherError as exc:
        errors.append(_field_message(exc))
    if fields is None or errors:
        return render(request, "family_new.html", s, 422, form={k: v for k, v in form.items() if isinstance(v, str)}, errors=errors)
    report = await run_in_threadpool(svc.records.create, s.principal, Side.REPORT, fields)
    upload = form.get("photo")
    if upload is not None and not isinstance(upload, str):
        try:
            message = await _store_upload(request, svc, s.principal, report["id"], upload, given)
            s.flash.append(message or "Your report was received. You can add a photo or a video below.")
        except MatcherError as exc:
            if exc.code == "busy":  # back-pressure: the report is saved, the photo was not
                s.flash.append("Your report was saved. We are busy right now, so the photo was not added: please add it below in a minute.")
            else:
                s.flash.append(f"Your report was saved, but the file could not be used: {_field_message(exc) if exc.code == 'invalid_field' else exc.message}")
    else:
        s.flash.append("Your report was received. You can add a photo or a video below.")
    return redirect(f"/my/reports/{report['id']}")


@router.get("/my/reports/{report_id}")
def report_page(request: Request, report_id: Id, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    report = svc.records.get(report_id, s.principal, Side.REPORT)  # 404 unless it is this family's own
    groups = []
    for m in report["media"]:
        if m["faces"] > 1:
            faces = svc.records.media_faces(s.principal, report_id, m["id"])
            groups.append({"media": m, "faces": faces, "picked": any(f["selected"] for f in faces)})
    return render(request, "family_report.html", s, report=report, groups=groups, closed=report["status"] == FamilyStatus.CLOSED)


@router.post("/my/reports/{report_id}/media")
async def add_media(
    request: Request,
    report_id: Id,
    photo: UploadFile | None = File(None),
    age: str = Form("", max_length=16),
    year_taken: str = Form("", max_length=8),
    csrf: str = Form(""),
    s: WebSession = Depends(FAMILY),
    svc: Services = Depends(get_services),
) -> Response:
    check_csrf(s, csrf)
    try:
        given = parse_given_age(age, year_taken)  # checked before the file is read or stored
    except MatcherError as exc:
        s.flash.append(f"The photo was not added: {_field_message(exc)}")
        return redirect(f"/my/reports/{report_id}")
    try:
        message = await _store_upload(request, svc, s.principal, report_id, photo, given) if photo is not None else None
        s.flash.append(message or "Choose a photo or a video first.")
    except MatcherError as exc:
        if exc.status == 404:
            raise
        if exc.code == "busy":  # back-pressure (services.capacity): nothing was stored
            s.flash.append("We are busy right now, so the photo was not added. Please try again in a minute.")
        else:
            s.flash.append(f"The photo was not added: {_field_message(exc)}" if exc.code == "invalid_field" else f"The file could not be used: {exc.message}")
    return redirect(f"/my/reports/{report_id}")


@router.post("/my/reports/{report_id}/faces/{face_id}/pick")
async def pick_face(report_id: Id, face_id: Id, csrf: str = Form(""), s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    await run_in_threadpool(svc.records.pick_face, s.principal, report_id, face_id)
    s.flash.append("Thank you. We will compare this face with the children in care.")
    return redirect(f"/my/reports/{report_id}")
