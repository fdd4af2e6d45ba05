"""Shelter staff's workspace: the children they registered (list and search), registering a
child with photos from a phone camera, a child's page (details, photos, faces found, more
photos), and importing an archive (a ZIP with a folder per child, or a CSV manifest and the
photos) as a background job with a progress bar and a downloadable problem report.

Shelter accounts see children only: never reports, candidates or scores (``RecordService``
and ``ImportService`` enforce it; these pages only call them).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from matcher.api.deps import Id, ServicesDep
from matcher.api.schemas import ChildIn
from matcher.api.uploads import read_capped
from matcher.errors import MatcherError
from matcher.types import Role, Side
from matcher.web.common import SHELTER, check_csrf, language, redirect, render
from matcher.web.cookies import WebSession
from matcher.web.forms import field_errors, typed_fields
from matcher.web.i18n import Language
from matcher.web.messages import N_, error_message
from matcher.web.photos import read_slots, store_slots

router = APIRouter(include_in_schema=False)
PAGE = 50
SLOTS = 3
CHILD_FORM = ("number", "name", "sex", "birth_year", "shelter", "found_on", "found_at", "languages", "notes")
LABELS = {
    "number": N_("Record number"),
    "name": N_("Name (as the child says it)"),
    "sex": N_("Sex"),
    "birth_year": N_("Year of birth (estimated)"),
    "age_now": N_("Estimated age now (years)"),
    "shelter": N_("Shelter"),
    "found_on": N_("Date found"),
    "found_at": N_("Place found"),
    "languages": N_("Languages the child speaks"),
    "notes": N_("Notes"),
}
MAX_AGE_NOW = 25


def birth_year_from_age(age_text: str, today: dt.date) -> int | None:
    """``"7"`` -> this year minus 7; None for an empty field; ValueError for anything else. Pure."""
    text = age_text.strip().replace(",", ".")
    if not text:
        return None
    age = float(text)
    if not 0 <= age <= MAX_AGE_NOW:
        raise ValueError(age_text)
    return today.year - round(age)


def _child_fields(form, tr: Language) -> tuple[dict | None, list[str]]:
    data = {k: str(form.get(k, "")).strip() for k in CHILD_FORM if str(form.get(k, "")).strip()}
    errors = []
    try:
        from_age = birth_year_from_age(str(form.get("age_now", "")), dt.date.today())
    except ValueError:
        from_age = None
        errors.append(tr.gettext("%(label)s: give a number of years from 0 to %(max)s.") % {"label": tr.gettext(LABELS["age_now"]), "max": MAX_AGE_NOW})
    if from_age is not None and "birth_year" not in data:
        data["birth_year"] = str(from_age)
    try:
        fields = ChildIn(**data).fields()
    except ValidationError as exc:
        return None, errors + field_errors(exc, LABELS, tr)
    return (fields, errors) if not errors else (None, errors)


def _owner_filter(s: WebSession) -> int | None:
    """Shelter staff list the children their account registered or imported; admins see all."""
    return None if s.principal.role == Role.ADMIN else s.principal.user_id


@router.get("/shelter")
def shelter_home(
    svc: ServicesDep,
    request: Request,
    q: str = Query("", max_length=128),
    page: int = Query(1, ge=1, le=100_000),
    s: WebSession = Depends(SHELTER),
) -> Response:
    rows = svc.records.list(s.principal, Side.CHILD, PAGE + 1, (page - 1) * PAGE, owned_by=_owner_filter(s), query=q.strip() or None)
    return render(request, "shelter.html", s, children=rows[:PAGE], more=len(rows) > PAGE, page=page, q=q)


@router.get("/shelter/children/new")
def new_child_form(request: Request, s: WebSession = Depends(SHELTER)) -> Response:
    return render(request, "shelter_new.html", s, form={}, errors=[], slots=SLOTS)


@router.post("/shelter/children/new")
async def new_child(svc: ServicesDep, request: Request, s: WebSession = Depends(SHELTER)) -> Response:
    tr = language(request)
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    fields, errors = _child_fields(form, tr)
    slots, slot_errors = read_slots(form, tr, SLOTS)
    errors += slot_errors
    if fields is None or errors:
        return render(request, "shelter_new.html", s, 422, form=typed_fields(form), errors=errors, slots=SLOTS)
    try:
        child = await run_in_threadpool(svc.records.create, s.principal, Side.CHILD, fields)
    except MatcherError as exc:  # e.g. the number is taken
        message = tr.gettext("This record number is already used. Choose another one, or leave it empty.") if exc.code == "conflict" else error_message(tr, exc)
        return render(request, "shelter_new.html", s, exc.status, form=typed_fields(form), errors=[message], slots=SLOTS)
    s.flash.append(tr.gettext("Child %(number)s registered.") % {"number": child["number"]})
    for message in await store_slots(request, svc, s.principal, child["id"], Side.CHILD, slots, tr):
        s.flash.append(message)
    return redirect(f"/shelter/children/{child['id']}")


@router.get("/shelter/children/{child_id}")
def child_page(svc: ServicesDep, request: Request, child_id: Id, s: WebSession = Depends(SHELTER)) -> Response:
    child = svc.records.get(child_id, s.principal, Side.CHILD)
    faces = {m["id"]: svc.records.media_faces(s.principal, child_id, m["id"]) for m in child["media"] if m["faces"]}
    return render(request, "shelter_child.html", s, child=child, faces=faces, slots=SLOTS, form={})


@router.post("/shelter/children/{child_id}/media")
async def add_child_media(svc: ServicesDep, request: Request, child_id: Id, s: WebSession = Depends(SHELTER)) -> Response:
    tr = language(request)
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    slots, errors = read_slots(form, tr, SLOTS)
    svc.records.check_writable(s.principal, child_id, Side.CHILD)
    if errors or not slots:
        for e in errors or [tr.gettext("Choose a photo or a video first.")]:
            s.flash.append(e)
        return redirect(f"/shelter/children/{child_id}")
    for message in await store_slots(request, svc, s.principal, child_id, Side.CHILD, slots, tr):
        s.flash.append(message)
    return redirect(f"/shelter/children/{child_id}")


# ---- archive import ----
@router.get("/shelter/import")
def import_form(svc: ServicesDep, request: Request, s: WebSession = Depends(SHELTER)) -> Response:
    return render(request, "shelter_import.html", s, max_mb=svc.settings.max_archive_mb, error=None, detail=None)


@router.post("/shelter/import")
async def import_upload(
    svc: ServicesDep, request: Request, archive: UploadFile | None = File(None), csrf: str = Form(""), s: WebSession = Depends(SHELTER)
) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    max_mb = svc.settings.max_archive_mb
    if archive is None or not archive.filename:
        return render(request, "shelter_import.html", s, 422, max_mb=max_mb, error=tr.gettext("Choose a ZIP file first."))
    try:
        data = await read_capped(archive, int(max_mb * 1024 * 1024))
        job = await run_in_threadpool(svc.imports.submit_zip, s.principal, data, archive.filename)
    except MatcherError as exc:
        if exc.code == "file_too_large":
            message = tr.gettext("The archive is larger than %(mb)s MB. Split it into several ZIP files and import them one after the other.") % {
                "mb": tr.number(max_mb, 0)
            }
        elif exc.status in (400, 413, 415, 422):
            message = tr.gettext("This file cannot be imported. It must be a ZIP file with a folder per child, or a manifest.csv and the photos.")
        else:
            message = error_message(tr, exc)
        return render(request, "shelter_import.html", s, exc.status, max_mb=max_mb, error=message, detail=exc.message)
    return redirect(f"/shelter/imports/{job.id}")


@router.get("/shelter/imports/{job_id}")
def import_status(svc: ServicesDep, request: Request, job_id: str, s: WebSession = Depends(SHELTER)) -> Response:
    job = svc.jobs.status(s.principal, job_id[:32])  # 404 unless this account started it (or admin)
    progress = job.get("progress") or {}
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    running = job["status"] in ("queued", "running")
    result = job.get("result") or {}
    return render(request, "shelter_import_status.html", s, job=job, done=done, total=total, running=running, result=result, stage=progress.get("stage"))


@router.get("/shelter/imports/{job_id}/problems.csv")
def import_problems(svc: ServicesDep, job_id: str, s: WebSession = Depends(SHELTER)) -> Response:
    data = svc.imports.problems_csv(s.principal, job_id[:32])
    headers = {"Content-Disposition": f'attachment; filename="import-problems-{job_id[:12]}.csv"', "Cache-Control": "no-store, private"}
    return Response(data, media_type="text/csv; charset=utf-8", headers=headers)
