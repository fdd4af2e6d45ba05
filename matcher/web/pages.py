"""Server-rendered pages for people: sign-in, reviewers' queue and candidates, families'
reports, admin (users and tokens, audit, erasure, model health).

Thin like the JSON routes: every page calls the same services with the principal of the
cookie session, so the visibility rules of ``RecordService`` (a family sees its own
report only, 404 otherwise) and the audit of candidate views apply unchanged. Pages live
outside ``/v1``; every POST form carries the session's CSRF token; pages send a strict
Content-Security-Policy (scripts and styles from this origin only, no inline code).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import select

from matcher.api.deps import Id, get_services
from matcher.api.schemas import ReportIn
from matcher.api.uploads import read_capped
from matcher.services.accounts import ROLES, AuthError, Principal, authenticate
from matcher.errors import FileTooLargeError, MatcherError
from matcher.review.calibration import in_words
from matcher.services.container import Services
from matcher.store.models import (
    REPORT,
    AuditEvent,
    CalibrationRow,
    Candidate,
    Face,
    Record,
    Token,
    User,
)
from matcher.web.sessions import (
    COOKIE,
    PRE_COOKIE,
    SessionStore,
    WebSession,
    same,
    token_still_valid,
)

HERE = Path(__file__).parent
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store, private"}
PAGE_PREFIXES = ("/signin", "/signout", "/review", "/my", "/admin", "/img", "/shelter")
HOME = {"family": "/my", "reviewer": "/review", "admin": "/admin", "shelter": "/shelter"}
STATUSES = ("open", "unsure", "awaiting_second", "confirmed", "rejected", "all")
FLAGS = ("birth_year_mismatch", "found_before_last_seen", "photo_before_birth", "sex_mismatch", "dates_missing")
VERDICTS = ("confirmed", "rejected", "unsure")

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["fmr_words"] = lambda v: in_words(v) if v is not None else "not calibrated"
env.filters["flag_words"] = lambda f: f.replace("_", " ")

router = APIRouter(include_in_schema=False)


# ---- errors that pages answer in HTML ----
class SignInNeeded(Exception):
    pass


class PageForbidden(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)


# ---- sessions, principals, CSRF ----
def _store(request: Request) -> SessionStore:
    return request.app.state.web_sessions


def current(request: Request, svc: Services = Depends(get_services)) -> WebSession | None:
    s = _store(request).get(request.cookies.get(COOKIE))
    if s is None:
        return None
    with svc.sessions() as db:
        if not token_still_valid(db, s.principal):
            _store(request).drop(s.id)
            return None
    return s


def signed_in(s: WebSession | None = Depends(current)) -> WebSession:
    if s is None:
        raise SignInNeeded()
    return s


def role(*roles: str):
    def guard(s: WebSession = Depends(signed_in)) -> WebSession:
        if s.principal.role not in roles:
            raise PageForbidden(f"This page is for {' or '.join(roles)} accounts; you are signed in as {s.principal.role}.")
        return s

    return guard


REVIEW = role("reviewer", "admin")
FAMILY = role("family", "admin")
ADMIN = role("admin")


def check_csrf(s: WebSession, token: str) -> None:
    if not same(s.csrf, token):
        raise PageForbidden("This form has expired or did not come from this site. Go back, reload the page and try again.")


def render(request: Request, name: str, s: WebSession | None = None, status: int = 200, **ctx) -> HTMLResponse:
    flash = list(s.flash) if s else []
    if s:
        s.flash.clear()
    html = env.get_template(name).render(request=request, me=s.principal if s else None, csrf=s.csrf if s else "", flash=flash, **ctx)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def _cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


# ---- sign-in ----
@router.get("/")
def index(s: WebSession | None = Depends(current)) -> Response:
    return redirect(HOME[s.principal.role] if s else "/signin")


@router.get("/signin")
def signin_form(request: Request, next: str = Query("", max_length=512), s: WebSession | None = Depends(current)) -> Response:
    if s is not None:
        return redirect(HOME[s.principal.role])
    return _signin_page(request, next_url=next)


def _safe_next(url: str) -> str | None:
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else None


def _signin_page(request: Request, error: str | None = None, status: int = 200, next_url: str = "") -> Response:
    import secrets

    pre = secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, status, pre=pre, error=error, next_url=_safe_next(next_url) or "")
    response.set_cookie(PRE_COOKIE, pre, max_age=3600, **_cookie_args(request))
    return response


@router.post("/signin")
def signin(request: Request, token: str = Form(""), pre: str = Form(""), next: str = Form(""), svc: Services = Depends(get_services)) -> Response:
    if not same(request.cookies.get(PRE_COOKIE), pre):
        return _signin_page(request, "The sign-in form expired. Please paste your token again.", 403, next)
    try:
        with svc.sessions() as db:
            principal = authenticate(db, token.strip())
    except AuthError as exc:
        return _signin_page(request, exc.message if token.strip() else "Paste the token you were given.", 401, next)
    s = _store(request).create(principal)
    response = redirect(_safe_next(next) or HOME[principal.role])
    response.set_cookie(COOKIE, s.id, **_cookie_args(request))
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, csrf: str = Form(""), s: WebSession = Depends(signed_in)) -> Response:
    check_csrf(s, csrf)
    _store(request).drop(s.id)
    response = redirect("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


# ---- images (same permission rules as /v1: families see their own uploads only) ----
IMG_HEADERS = {"Cache-Control": "no-store, private", "Content-Security-Policy": "default-src 'none'"}


@router.get("/img/faces/{face_id}")
def face_crop(face_id: Id, s: WebSession = Depends(signed_in), svc: Services = Depends(get_services)) -> Response:
    return Response(svc.records.crop(s.principal, face_id), media_type="image/jpeg", headers=IMG_HEADERS)


@router.get("/img/media/{media_id}")
def media_image(media_id: Id, s: WebSession = Depends(signed_in), svc: Services = Depends(get_services)) -> Response:
    data = svc.records.image(s.principal, media_id)
    return Response(data, media_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg", headers=IMG_HEADERS)


# ---- reviewers ----
def _filtered_queue(svc: Services, status: str, kind: str | None, flag: str, shelter: str, max_gap: int | None, sort: str) -> list[dict]:
    rows = svc.queue(None if status == "all" else status, 500, kind or None)
    if rows:
        with svc.sessions() as db:
            shelters = dict(db.execute(select(Record.external_id, Record.shelter).where(Record.side == "child", Record.external_id.in_({r["child_id"] for r in rows}))).all())
    for r in rows:
        ev = r.get("evidence") or {}
        r["shelter"] = shelters.get(r["child_id"]) if rows else None
        r["flags"] = ev.get("flags") or []
        r["plausible"] = ev.get("plausible")
        r["gap"] = (ev.get("age") or {}).get("birth_year_gap")
    if flag == "plausible":
        rows = [r for r in rows if r["plausible"] is not False]
    elif flag == "implausible":
        rows = [r for r in rows if r["plausible"] is False]
    elif flag in FLAGS:
        rows = [r for r in rows if flag in r["flags"]]
    if shelter:
        rows = [r for r in rows if shelter.lower() in (r["shelter"] or "").lower()]
    if max_gap is not None:
        rows = [r for r in rows if r["gap"] is not None and abs(r["gap"]) <= max_gap]
    if sort == "score":
        rows.sort(key=lambda r: -r["score"])
    return rows


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
    rows = _filtered_queue(svc, status, kind, flag, shelter.strip(), gap, sort)
    filters = {"status": status, "kind": kind, "flag": flag, "shelter": shelter, "max_gap": max_gap, "sort": sort}
    return render(request, "queue.html", s, rows=rows, filters=filters, statuses=STATUSES, flags=FLAGS, qs=urlencode(filters))


@router.get("/review/candidates/{candidate_id}")
def candidate_page(request: Request, candidate_id: Id, s: WebSession = Depends(REVIEW), svc: Services = Depends(get_services)) -> Response:
    case = svc.candidate(candidate_id, s.principal.actor, s.principal.role, request.state.request_id)  # audited
    ev = case.get("evidence") or {}
    with svc.sessions() as db:
        c = db.get(Candidate, candidate_id)
        pairs = []
        for p in (ev.get("pairs") or [])[:3]:
            rf, cf = db.get(Face, p["report_face"]), db.get(Face, p["child_face"])
            if rf is not None and cf is not None:
                pairs.append({"score": p["score"], "report_face": rf.id, "child_face": cf.id, "report_media": rf.media_id if rf.media.kind == "photo" else None, "child_media": cf.media_id if cf.media.kind == "photo" else None})
        others = [svc._candidate_dict(db, o) for o in db.scalars(select(Candidate).where(Candidate.report_id == c.report_id, Candidate.id != c.id).order_by(Candidate.score.desc()).limit(50))]
    queue_ids = [r["id"] for r in svc.queue("open", 500)]
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
    queue_ids = [r["id"] for r in svc.queue("open", 500)]
    out = svc.decide(candidate_id, verdict, s.principal.actor, note.strip()[:4000] or None, s.principal.role, request.state.request_id)
    s.flash.append(f"Decision recorded for candidate {candidate_id}: {verdict.replace('_', ' ')} (now {out['status'].replace('_', ' ')}).")
    rest = [i for i in queue_ids if i != candidate_id]
    if candidate_id in queue_ids:
        after = queue_ids[queue_ids.index(candidate_id) + 1:]
        rest = after or rest
    return redirect(f"/review/candidates/{rest[0]}" if rest else "/review")


# ---- families ----
def _report_fields(form: dict) -> tuple[dict | None, list[str]]:
    data = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    try:
        return ReportIn(**data).fields(), []
    except ValidationError as exc:
        labels = {"name": "Child's name", "sex": "Sex", "birth_year": "Year of birth", "birth_date": "Date of birth", "last_seen_on": "Date last seen", "last_seen_at": "Place last seen", "languages": "Languages", "notes": "Notes", "contact": "How we can reach you"}
        return None, [f"{labels.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()]


async def _store_upload(request: Request, svc: Services, who: Principal, report_id: int, upload: UploadFile) -> str | None:
    """Store one photo or video; returns a message for the family, None when there was no file."""
    from matcher.imaging import sniff_format
    from matcher.video import sniff_video

    settings = svc.settings
    data = await read_capped(upload, max(settings.max_upload_bytes, settings.video_max_bytes))
    if not data:
        return None
    request.app.state.rate_limiter.check(who.token_id, "upload", settings.rate_uploads_per_minute)
    is_video = sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None
    if not is_video and len(data) > settings.max_upload_bytes:
        raise FileTooLargeError(f"Photos are limited to {settings.max_upload_mb:g} MB.")
    if is_video:
        svc.records.check_writable(who, report_id, REPORT)
        svc.jobs.submit("video", who.user_id, lambda: svc.records.upload(who, report_id, REPORT, data, upload.filename).__dict__)
        return "Thank you. The video is being processed; this can take a few minutes. Reload this page to see the faces found."
    outcome = await run_in_threadpool(svc.records.upload, who, report_id, REPORT, data, upload.filename)
    if outcome.needs_pick:
        return "Thank you. The photo shows several faces: please choose your child below."
    if not outcome.faces:
        return "Thank you. We could not find a face in this photo; please add a clearer, recent photo if you have one."
    return "Thank you. The photo was received."


@router.get("/my")
def family_home(request: Request, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    reports = svc.records.list(s.principal, REPORT, 200)
    return render(request, "family_home.html", s, reports=reports)


@router.get("/my/new")
def new_report_form(request: Request, s: WebSession = Depends(FAMILY)) -> Response:
    return render(request, "family_new.html", s, form={}, errors=[])


@router.post("/my/new")
async def new_report(request: Request, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    form = await request.form()
    check_csrf(s, str(form.get("csrf", "")))
    fields, errors = _report_fields({k: form.get(k, "") for k in ("name", "sex", "birth_year", "birth_date", "last_seen_on", "last_seen_at", "languages", "notes", "contact")})
    if fields is None:
        return render(request, "family_new.html", s, 422, form=dict(form), errors=errors)
    report = await run_in_threadpool(svc.records.create, s.principal, REPORT, fields)
    upload = form.get("photo")
    if upload is not None and not isinstance(upload, str):
        try:
            message = await _store_upload(request, svc, s.principal, report["id"], upload)
            s.flash.append(message or "Your report was received. You can add a photo or a video below.")
        except MatcherError as exc:
            s.flash.append(f"Your report was saved, but the file could not be used: {exc.message}")
    else:
        s.flash.append("Your report was received. You can add a photo or a video below.")
    return redirect(f"/my/reports/{report['id']}")


@router.get("/my/reports/{report_id}")
def report_page(request: Request, report_id: Id, s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    report = svc.records.get(report_id, s.principal, REPORT)  # 404 unless it is this family's own
    groups = []
    for m in report["media"]:
        if m["faces"] > 1:
            faces = svc.records.media_faces(s.principal, report_id, m["id"])
            groups.append({"media": m, "faces": faces, "picked": any(f["selected"] for f in faces)})
    return render(request, "family_report.html", s, report=report, groups=groups, closed=report["status"] == "closed")


@router.post("/my/reports/{report_id}/media")
async def add_media(request: Request, report_id: Id, photo: UploadFile | None = File(None), csrf: str = Form(""), s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    try:
        message = await _store_upload(request, svc, s.principal, report_id, photo) if photo is not None else None
        s.flash.append(message or "Choose a photo or a video first.")
    except MatcherError as exc:
        if exc.status == 404:
            raise
        s.flash.append(f"The file could not be used: {exc.message}")
    return redirect(f"/my/reports/{report_id}")


@router.post("/my/reports/{report_id}/faces/{face_id}/pick")
async def pick_face(report_id: Id, face_id: Id, csrf: str = Form(""), s: WebSession = Depends(FAMILY), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    await run_in_threadpool(svc.records.pick_face, s.principal, report_id, face_id)
    s.flash.append("Thank you. We will compare this face with the children in care.")
    return redirect(f"/my/reports/{report_id}")


# ---- shelter staff: no pages yet ----
@router.get("/shelter")
def shelter_home(request: Request, s: WebSession = Depends(role("shelter", "admin"))) -> Response:
    return render(request, "shelter.html", s)


# ---- admin ----
@router.get("/admin")
def admin_home(request: Request, s: WebSession = Depends(ADMIN)) -> Response:
    return render(request, "admin_home.html", s)


def _tokens(svc: Services) -> list[dict]:
    with svc.sessions() as db:
        rows = db.execute(select(Token, User.name, User.role).join(User, User.id == Token.user_id).order_by(Token.id.desc()).limit(500)).all()
        return [{"id": t.id, "user": name, "role": r, "created": t.created_at, "expires": t.expires_at, "revoked": t.revoked} for t, name, r in rows]


@router.get("/admin/users")
def users_page(request: Request, s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    return render(request, "admin_users.html", s, users=svc.list_users(), tokens=_tokens(svc), roles=ROLES, new_token=None)


@router.post("/admin/users")
def add_user(request: Request, name: str = Form(""), user_role: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    try:
        svc.add_user(name.strip(), user_role, s.principal.actor)
        s.flash.append(f"User {name.strip()} added as {user_role}. Create a token for them below.")
    except MatcherError as exc:
        s.flash.append(f"Could not add the user: {exc.message}")
    return redirect("/admin/users")


@router.post("/admin/tokens")
def create_token(request: Request, user: str = Form(""), days: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    try:
        lifetime = float(days) if days.strip() else None
        if lifetime is not None and not 0 < lifetime <= 3650:
            raise ValueError
    except ValueError:
        s.flash.append("Days must be a number between 1 and 3650.")
        return redirect("/admin/users")
    try:
        new = svc.create_token(user.strip(), lifetime, s.principal.actor)
    except MatcherError as exc:
        s.flash.append(f"Could not create the token: {exc.message}")
        return redirect("/admin/users")
    # shown once, in this response only (no redirect, never stored)
    return render(request, "admin_users.html", s, 201, users=svc.list_users(), tokens=_tokens(svc), roles=ROLES, new_token=new)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(token_id: Id, csrf: str = Form(""), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    svc.revoke_token(token_id, s.principal.actor)
    s.flash.append(f"Token {token_id} revoked.")
    return redirect("/admin/users")


@router.get("/admin/audit")
def audit_page(request: Request, actor: str = Query("", max_length=128), action: str = Query("", max_length=32), limit: int = Query(200, ge=1, le=5000), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    with svc.sessions() as db:
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        if actor.strip():
            query = query.where(AuditEvent.actor == actor.strip())
        if action.strip():
            query = query.where(AuditEvent.action == action.strip())
        events = list(db.scalars(query.limit(limit)))
        return render(request, "admin_audit.html", s, events=events, actor=actor, action=action, limit=limit)


@router.get("/admin/erase")
def erase_form(request: Request, record: str = Query("", max_length=20), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    target = None
    if record.strip().isdigit() and 1 <= int(record) <= 2**62:
        with svc.sessions() as db:
            r = db.get(Record, int(record))
            if r is not None and r.status != "withdrawn":
                target = {"id": r.id, "side": r.side, "number": r.external_id, "name": r.name, "media": len(r.media), "status": r.status}
        if target is None:
            s.flash.append(f"No record {record}.")
    return render(request, "admin_erase.html", s, target=target, record=record)


@router.post("/admin/erase/{record_id}")
async def erase(record_id: Id, confirm: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    check_csrf(s, csrf)
    with svc.sessions() as db:
        r = db.get(Record, record_id)
        number = r.external_id if r is not None else None
    if number is None or confirm.strip() != number:
        s.flash.append("Nothing was erased: type the record number exactly to confirm.")
        return redirect(f"/admin/erase?record={record_id}")
    out = await run_in_threadpool(svc.records.erase, s.principal, record_id, "erase")
    s.flash.append(f"Record {number} erased: {out['media']} files, {out['faces']} faces, {out['candidates']} candidates removed; a tombstone remains.")
    return redirect("/admin/erase")


@router.get("/admin/health")
def health_page(request: Request, s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    with svc.sessions() as db:
        counts = {st: 0 for st in ("open", "confirmed", "rejected", "unsure", "awaiting_second")}
        for (st,) in db.execute(select(Candidate.status)):
            counts[st] = counts.get(st, 0) + 1
        cal = db.scalar(select(CalibrationRow).where(CalibrationRow.pack == svc.settings.pack).order_by(CalibrationRow.id.desc()).limit(1))
        calibration = {"records": cal.n_records, "pairs": cal.data.get("n_pairs"), "at": cal.created_at} if cal else None
    return render(request, "admin_health.html", s, counts=counts, calibration=calibration, pack=svc.settings.pack, queue_fmr=svc.settings.queue_fmr)


def _png(fig) -> Response:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return Response(buf.getvalue(), media_type="image/png", headers=IMG_HEADERS)


@router.get("/admin/health/scores.png")
def scores_plot(s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    from matplotlib.figure import Figure

    with svc.sessions() as db:
        rows = db.execute(select(Candidate.status, Candidate.score).where(Candidate.status.in_(("confirmed", "rejected")))).all()
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    for status, colour in (("confirmed", "#1b7a3a"), ("rejected", "#b3261e")):
        values = [score for st, score in rows if st == status]
        if values:
            ax.hist(values, bins=30, range=(0, 1), alpha=0.6, color=colour, label=f"{status} ({len(values)})")
    if not rows:
        ax.text(0.5, 0.5, "no decided candidates yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend()
    ax.set_xlabel("fused score")
    ax.set_ylabel("candidates")
    ax.set_title("Scores of confirmed vs rejected candidates")
    return _png(fig)


@router.get("/admin/health/impostors.png")
def impostor_plot(s: WebSession = Depends(ADMIN), svc: Services = Depends(get_services)) -> Response:
    import numpy as np
    from matplotlib.figure import Figure

    from matcher.review.calibration import Calibration

    with svc.sessions() as db:
        row = db.scalar(select(CalibrationRow).where(CalibrationRow.pack == svc.settings.pack).order_by(CalibrationRow.id.desc()).limit(1))
        data = dict(row.data) if row else None
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    if not data or not data.get("sorted_scores"):
        ax.text(0.5, 0.5, "no calibration yet", ha="center", va="center", transform=ax.transAxes)
        return _png(fig)
    cal = Calibration.from_dict(data)
    scores = np.asarray(cal.sorted_scores)
    ax.hist(scores, bins=40, color="#5a6b7d", alpha=0.7, label=f"impostor pairs ({cal.n_pairs})")
    ax.set_xlabel("fused score")
    ax.set_ylabel("impostor pairs")
    ax2 = ax.twinx()
    xs = np.linspace(float(scores.min()), 1.0, 200)
    ax2.semilogy(xs, [cal.fmr(x) for x in xs], color="#1f4e99", label="false-match rate")
    ax2.set_ylabel("false-match rate")
    t = cal.threshold(svc.settings.queue_fmr)
    ax2.axvline(t, color="#b3261e", linestyle="--", label=f"queue threshold {t:.3f} (FMR {svc.settings.queue_fmr:g})")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax2.legend(lines, [h.get_label() for h in lines], loc="upper right", fontsize=8)
    ax.set_title(f"Impostor distribution used for calibration ({cal.pack}, {cal.n_records} records)")
    return _png(fig)


# ---- wiring ----
def mount_pages(app: FastAPI) -> None:
    """Static files, the pages router, a session store, and HTML answers for page errors."""
    app.state.web_sessions = SessionStore()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    json_handler = app.exception_handlers.get(MatcherError)

    async def need_sign_in(request: Request, _: SignInNeeded) -> Response:
        return redirect("/signin?next=" + quote(request.url.path))

    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", _store(request).get(request.cookies.get(COOKIE)), 403, title="Not allowed", message=exc.message)

    async def matcher_error(request: Request, exc: MatcherError) -> Response:
        if not _is_page(request.url.path) or request.url.path.startswith("/img"):
            return await json_handler(request, exc)
        s = _store(request).get(request.cookies.get(COOKIE))
        title = {404: "Not found", 403: "Not allowed", 409: "Already decided", 429: "Please slow down"}.get(exc.status, "Something is not right")
        return render(request, "error.html", s, exc.status, title=title, message=exc.message)

    app.add_exception_handler(SignInNeeded, need_sign_in)
    app.add_exception_handler(PageForbidden, forbidden)
    if json_handler is not None:
        app.add_exception_handler(MatcherError, matcher_error)


__all__ = ["PAGE_CSP", "mount_pages", "router"]
