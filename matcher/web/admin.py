"""Admin pages: users and tokens, the audit log, erasure of a record, model health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep
from matcher.container import Services
from matcher.errors import ConflictError, MatcherError, NotFoundError
from matcher.types import USER_ROLES, RecordStatus
from matcher.web.common import ADMIN, IMG_HEADERS, check_csrf, language, redirect, render
from matcher.web.cookies import WebSession
from matcher.web.messages import error_message, value_words

router = APIRouter(include_in_schema=False)


@router.get("/admin")
def admin_home(request: Request, s: WebSession = Depends(ADMIN)) -> Response:
    return render(request, "admin_home.html", s)


# ---- users and tokens ----
def _users_page(request: Request, s: WebSession, svc: Services, status: int = 200, new_token: dict | None = None) -> Response:
    return render(
        request, "admin_users.html", s, status, users=svc.accounts.list_users(), tokens=svc.accounts.tokens(500), roles=USER_ROLES, new_token=new_token
    )


@router.get("/admin/users")
def users_page(svc: ServicesDep, request: Request, s: WebSession = Depends(ADMIN)) -> Response:
    return _users_page(request, s, svc)


@router.post("/admin/users")
def add_user(
    svc: ServicesDep,
    request: Request,
    name: str = Form(""),
    user_role: str = Form(""),
    csrf: str = Form(""),
    s: WebSession = Depends(ADMIN),
) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    try:
        svc.accounts.add_user(name.strip(), user_role, s.principal.actor)
        s.flash.append(
            tr.gettext("User %(name)s added as %(role)s. Create a token for them below.") % {"name": name.strip(), "role": value_words(tr, user_role)}
        )
    except ConflictError:
        s.flash.append(tr.gettext("Could not add the user: a user named %(name)s already exists.") % {"name": name.strip()})
    except MatcherError:
        s.flash.append(tr.gettext("Could not add the user: give a name of 1 to 128 characters and one of the roles."))
    return redirect("/admin/users")


@router.post("/admin/tokens")
def create_token(
    svc: ServicesDep, request: Request, user: str = Form(""), days: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(ADMIN)
) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    try:
        lifetime = float(days) if days.strip() else None
        if lifetime is not None and not 0 < lifetime <= 3650:
            raise ValueError
    except ValueError:
        s.flash.append(tr.gettext("Days must be a number between 1 and 3650."))
        return redirect("/admin/users")
    try:
        new = svc.accounts.create_token(user.strip(), lifetime, s.principal.actor)
    except NotFoundError:
        s.flash.append(tr.gettext("Could not create the token: there is no user %(name)s.") % {"name": user.strip()})
        return redirect("/admin/users")
    except MatcherError as exc:
        s.flash.append(tr.gettext("Could not create the token: %(reason)s") % {"reason": error_message(tr, exc)})
        return redirect("/admin/users")
    # shown once, in this response only (no redirect, never stored)
    return _users_page(request, s, svc, 201, new)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(svc: ServicesDep, request: Request, token_id: Id, csrf: str = Form(""), s: WebSession = Depends(ADMIN)) -> Response:
    check_csrf(s, csrf)
    svc.accounts.revoke_token(token_id, s.principal.actor)
    s.flash.append(language(request).gettext("Token %(id)s revoked.") % {"id": token_id})
    return redirect("/admin/users")


# ---- audit log ----
@router.get("/admin/audit")
def audit_page(
    svc: ServicesDep,
    request: Request,
    actor: str = Query("", max_length=128),
    action: str = Query("", max_length=32),
    limit: int = Query(200, ge=1, le=5000),
    s: WebSession = Depends(ADMIN),
) -> Response:
    events = svc.audit.latest(actor.strip() or None, action.strip() or None, limit)
    chain = svc.protection.audit_status()  # the whole chain at most every 5 minutes, new rows at every view
    return render(request, "admin_audit.html", s, events=events, actor=actor, action=action, limit=limit, chain=chain)


# ---- erasure ----
@router.get("/admin/erase")
def erase_form(svc: ServicesDep, request: Request, record: str = Query("", max_length=20), s: WebSession = Depends(ADMIN)) -> Response:
    target = None
    if record.strip().isdigit() and 1 <= int(record) <= 2**62:
        found = svc.records.erase_target(int(record))
        target = found if found is not None and found["status"] != RecordStatus.WITHDRAWN else None
        if target is None:
            s.flash.append(language(request).gettext("No record %(id)s.") % {"id": record})
    return render(request, "admin_erase.html", s, target=target, record=record)


@router.post("/admin/erase/{record_id}")
async def erase(svc: ServicesDep, request: Request, record_id: Id, confirm: str = Form(""), csrf: str = Form(""), s: WebSession = Depends(ADMIN)) -> Response:
    check_csrf(s, csrf)
    tr = language(request)
    found = svc.records.erase_target(record_id)
    number = found["number"] if found is not None else None
    if number is None or confirm.strip() != number:
        s.flash.append(tr.gettext("Nothing was erased: type the record number exactly to confirm."))
        return redirect(f"/admin/erase?record={record_id}")
    out = await run_in_threadpool(svc.records.erase, s.principal, record_id, "erase")
    removed = {
        "files": tr.ngettext("%(num)s file", "%(num)s files", out["media"]) % {"num": tr.number(out["media"])},
        "faces": tr.ngettext("%(num)s face", "%(num)s faces", out["faces"]) % {"num": tr.number(out["faces"])},
        "candidates": tr.ngettext("%(num)s candidate", "%(num)s candidates", out["candidates"]) % {"num": tr.number(out["candidates"])},
    }
    s.flash.append(
        tr.gettext("Record %(number)s erased: %(files)s, %(faces)s and %(candidates)s removed; a tombstone remains.") % {"number": number, **removed}
    )
    return redirect("/admin/erase")


# ---- model health ----
@router.get("/admin/health")
def health_page(svc: ServicesDep, request: Request, s: WebSession = Depends(ADMIN)) -> Response:
    summary = svc.health.summary()
    threshold = svc.health.strong_threshold()
    return render(
        request,
        "admin_health.html",
        s,
        counts=summary["counts"],
        calibration=summary["calibration"],
        pack=svc.settings.pack,
        threshold=threshold,
        shortlist=svc.settings.shortlist,
    )


@router.get("/admin/health/scores.png")
def scores_plot(svc: ServicesDep, s: WebSession = Depends(ADMIN)) -> Response:
    return Response(svc.health.scores_png(), media_type="image/png", headers=IMG_HEADERS)


@router.get("/admin/health/impostors.png")
def impostor_plot(svc: ServicesDep, s: WebSession = Depends(ADMIN)) -> Response:
    return Response(svc.health.impostors_png(), media_type="image/png", headers=IMG_HEADERS)
