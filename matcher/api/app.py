"""FastAPI app factory. Services live on ``app.state``; routes get them with ``Depends``.

One router per audience (families, shelters, reviewers, admin, jobs); every error is
``{"error": {"code", "message"}}`` from the handlers below; every response carries a
request id (echoed into audit rows and log lines) and conservative security headers
(``api.middleware``, which also counts requests for ``/metrics``).

Operating it: ``/health`` is cheap and public; ``/health/ready`` checks the database, the
blob store, the model pack and the index (503 with the reason); ``/metrics`` (admin token)
is Prometheus text. A busy database is a 503 with ``Retry-After``, a full disk a 507, a
unique-constraint collision between two concurrent requests a 409 — never a 500.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher import __version__
from matcher.api.deps import ServicesDep, limited, require
from matcher.api.limits import BodySizeLimit
from matcher.api.metrics import CONTENT_TYPE, Metrics
from matcher.api.middleware import ObservabilityMiddleware
from matcher.api.readiness import Operations
from matcher.api.routes import admin, family, jobs, reviewer, shelter, sightings
from matcher.api.schemas import ErrorOut, FacesOut, Health
from matcher.api.uploads import read_capped
from matcher.container import Services
from matcher.errors import ConflictError, DatabaseBusy, MatcherError, StorageFullError
from matcher.settings import Settings, apply_privacy_env
from matcher.store.db import STORAGE_ERRORS, storage_error
from matcher.types import Principal
from matcher.web.app import mount_pages

log = logging.getLogger(__name__)
ARCHIVE_UPLOAD_PATHS = ("/v1/children/import/zip", "/shelter/import")  # bodies up to MATCHER_MAX_ARCHIVE_MB
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 507)}
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
        try:  # uploads a killed process left half-done: their blobs go (store.inflight)
            await run_in_threadpool(svc.protection.recover_uploads)
        except Exception:
            log.exception("could not recover interrupted uploads; `matcher fsck` will find their blobs")
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
    operations = Operations(svc)  # readiness checks and the gauges /metrics reads
    metrics = Metrics(svc.capacity, operations.gauges)  # this app's registry, passed down (no global one)
    svc.stage_observer = metrics.observe_stage  # model time per stage, from the pipeline's hook
    svc.capacity.on_wait = metrics.observe_pool_wait
    svc.split_cores_between_model_slots = True  # concurrent analyses: cores/MODEL_WORKERS onnxruntime threads each
    app.state.metrics = metrics
    app.state.rate_limiter = svc.rate_limits  # counted in the database (store.rate_windows)
    body_cap = max(settings.max_upload_bytes, settings.video_max_bytes) + 64 * 1024
    archive_cap = max(body_cap, settings.max_archive_bytes + 64 * 1024)  # a shelter's ZIP (services.imports), API and page
    app.add_middleware(BodySizeLimit, max_bytes=body_cap, larger=dict.fromkeys(ARCHIVE_UPLOAD_PATHS, archive_cap))
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, security_headers=SECURITY_HEADERS)  # added last: outermost

    def error_response(exc: MatcherError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        retry_after = getattr(exc, "retry_after", None) or (60 if exc.status == 429 else None)
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status, headers=headers or None)

    @app.exception_handler(MatcherError)
    async def matcher_error(_: Request, exc: MatcherError) -> JSONResponse:
        if exc.status >= 500 and exc.status != 503:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(exc)

    async def storage_failure(_: Request, exc: Exception) -> JSONResponse:
        """Database and file errors that are not bugs, as the store translates them
        (``store.db.storage_error``): busy (503), disk full (507), two concurrent requests
        colliding on a unique constraint (409). Anything else is a 500."""
        translated = storage_error(exc)
        if isinstance(translated, DatabaseBusy):
            log.warning("database busy: %s", type(exc).__name__)
        elif isinstance(translated, StorageFullError):
            log.error("storage full: %s", type(exc).__name__)
        elif isinstance(translated, ConflictError):
            log.warning("concurrent change collided: %s", type(exc).__name__)
        else:
            log.error("unexpected storage error", exc_info=exc)
            return JSONResponse({"error": {"code": "internal_error", "message": "Something went wrong on our side; nothing was changed."}}, status_code=500)
        return error_response(translated)

    for error_class in STORAGE_ERRORS:  # the driver's errors (and OSError), translated by the store
        app.add_exception_handler(error_class, storage_failure)

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
    def health(svc: ServicesDep) -> Health:
        """Cheap and public: the process answers. Whether it can work: ``/health/ready``."""
        return Health(status="ok", pack=svc.settings.pack, version=__version__)

    @app.get("/health/ready", tags=["service"], responses={503: {"description": "not ready; the failing checks say why"}})
    async def ready(svc: ServicesDep) -> JSONResponse:
        """Database (query + schema revision), blob store (probe written, read, deleted), model
        pack (files verified, pipeline loaded), index (in line with the database). 200 when
        all pass, else 503 with each check's reason. Public, like ``/health``: it names no data."""
        result = await run_in_threadpool(operations.readiness)
        return JSONResponse(result.as_dict(), status_code=200 if result.ready else 503, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def metrics_text(svc: ServicesDep, who: Principal = Depends(require("admin"))) -> Response:
        """Prometheus text format (``api.metrics``). Admin token required."""
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    @app.post("/v1/faces", response_model=FacesOut, tags=["service"], dependencies=[Depends(limited("search", "rate_searches_per_minute"))])
    async def detect_faces(
        svc: ServicesDep,
        file: UploadFile = File(..., description="a photo (JPEG, PNG, WebP, HEIC, ...)"),
        who: Principal = Depends(require("shelter", "reviewer", "admin")),
    ) -> FacesOut:
        """Stateless: the faces found in one photo. Nothing is stored. Staff only."""
        data = await read_capped(file, svc.limits.max_bytes)
        result = await run_in_threadpool(svc.capacity.run, svc.analyze_bytes, data)  # bounded model pool (503 when full)
        return FacesOut(pack=svc.pipeline().pack, width=result.image.width, height=result.image.height, faces=[f.summary() for f in result.faces])

    for router in (family.router, shelter.router, reviewer.router, admin.router, jobs.router, sightings.router):
        app.include_router(router)
    mount_pages(app)  # server-rendered pages for people (outside /v1)
    return app
