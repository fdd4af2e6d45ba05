"""FastAPI app factory. Services live on ``app.state``; routes get them with ``Depends``.

One router per audience (families, shelters, reviewers, admin, jobs); every error is
``{"error": {"code", "message"}}`` from the handlers below; every response carries a
request id (echoed into audit rows) and conservative security headers.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher import __version__
from matcher.api.deps import RateLimiter, get_services, limited, require
from matcher.api.limits import BodySizeLimit
from matcher.api.routes import admin, family, jobs, review, shelter
from matcher.api.schemas import ErrorOut, FacesOut, Health
from matcher.api.uploads import read_capped
from matcher.services.accounts import Principal
from matcher.errors import MatcherError
from matcher.services.container import Services
from matcher.settings import Settings, apply_privacy_env
from matcher.web.app import mount_pages

log = logging.getLogger(__name__)
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; frame-ancestors 'none'",
}


def _no_telemetry() -> dict:
    """FastAPI >= 0.163 ships OpenTelemetry instrumentation; switch every part of it off."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}}


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    apply_privacy_env()
    svc = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        svc.jobs.shutdown()

    app = FastAPI(
        **_no_telemetry(),
        title="matcher",
        version=__version__,
        description="Face matching for family reunification. Ranked leads for human review; it never decides.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.services = svc
    app.state.rate_limiter = RateLimiter()
    app.add_middleware(BodySizeLimit, max_bytes=max(settings.max_upload_bytes, settings.video_max_bytes) + 64 * 1024)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(MatcherError)
    async def matcher_error(_: Request, exc: MatcherError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else ({"Retry-After": "60"} if exc.status == 429 else None)
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": {"code": "invalid_request", "message": problems}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": {"code": "internal_error", "message": "Something went wrong on our side; nothing was changed."}}, status_code=500)

    @app.get("/health", response_model=Health, tags=["service"])
    def health(svc: Services = Depends(get_services)) -> Health:
        return Health(status="ok", pack=svc.settings.pack, version=__version__)

    @app.post("/v1/faces", response_model=FacesOut, tags=["service"], dependencies=[Depends(limited("search", "rate_searches_per_minute"))])
    async def detect_faces(
        file: UploadFile = File(..., description="a photo (JPEG, PNG, WebP, HEIC, ...)"),
        who: Principal = Depends(require("shelter", "reviewer", "admin")),
        svc: Services = Depends(get_services),
    ) -> FacesOut:
        """Stateless: the faces found in one photo. Nothing is stored. Staff only."""
        data = await read_capped(file, svc.limits.max_bytes)
        result = await run_in_threadpool(svc.analyze_bytes, data)
        return FacesOut(pack=svc.pipeline().pack, width=result.image.width, height=result.image.height, faces=[f.summary() for f in result.faces])

    for router in (family.router, shelter.router, review.router, admin.router, jobs.router):
        app.include_router(router)
    mount_pages(app)  # server-rendered pages for people (outside /v1)
    return app
