"""FastAPI app factory. Services live on ``app.state``; routes get them with ``Depends``."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from matcher import __version__
from matcher.api.limits import BodySizeLimit
from matcher.api.schemas import ErrorOut, FacesOut, Health
from matcher.errors import FileTooLargeError, MatcherError
from matcher.services import Services
from matcher.settings import Settings, apply_privacy_env

log = logging.getLogger(__name__)
ERRORS = {400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 415: {"model": ErrorOut}, 422: {"model": ErrorOut}}
CHUNK = 1 << 20


def get_services(request: Request) -> Services:
    return request.app.state.services


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    apply_privacy_env()
    app = FastAPI(title="matcher", version=__version__, description="Face matching for family reunification. Ranked leads for human review; it never decides.")
    app.state.services = services or Services(settings)
    # multipart framing adds a little over the file itself
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)

    @app.exception_handler(MatcherError)
    async def matcher_error(_: Request, exc: MatcherError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": {"code": "invalid_request", "message": problems}}, status_code=422)

    @app.get("/health", response_model=Health)
    def health(svc: Services = Depends(get_services)) -> Health:
        return Health(status="ok", pack=svc.settings.pack, version=__version__)

    @app.post("/v1/faces", response_model=FacesOut, responses=ERRORS)
    async def detect_faces(file: UploadFile = File(..., description="a photo (JPEG, PNG, WebP, HEIC, ...)"), svc: Services = Depends(get_services)) -> FacesOut:
        """Stateless: the faces found in one photo. Nothing is stored."""
        data = await _read_capped(file, svc.limits.max_bytes)
        result = await run_in_threadpool(svc.analyze_bytes, data)
        return FacesOut(
            pack=svc.pipeline().pack,
            width=result.image.width,
            height=result.image.height,
            faces=[f.summary() for f in result.faces],
        )

    return app


async def _read_capped(file: UploadFile, max_bytes: int) -> bytes:
    parts, total = [], 0
    while chunk := await file.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLargeError(f"The file is larger than the {max_bytes / (1024 * 1024):.0f} MB limit.")
        parts.append(chunk)
    return b"".join(parts)
