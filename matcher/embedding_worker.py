"""Work done per photo during batch indexing, in this process or in a worker process.

``analyze_path`` is a top-level function so a ProcessPoolExecutor can pickle it. Each
worker process builds its own Pipeline once, in ``init_worker`` (a process-local, not a
module-level singleton shared with the service).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matcher.errors import MatcherError
from matcher.imaging import ImageLimits, decode_image, encode_jpeg


@dataclass(frozen=True)
class FaceResult:
    box: tuple[float, float, float, float]
    landmarks: list
    det_score: float
    quality: float
    crop_jpeg: bytes = field(repr=False)
    embedding: bytes = field(repr=False)


@dataclass(frozen=True)
class PhotoResult:
    path: str
    sha256: str
    size_bytes: int
    format: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: object = None
    faces: tuple[FaceResult, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    data: bytes = field(default=b"", repr=False)


_state: dict = {}


def init_worker(settings_json: str, pack: str) -> None:
    from matcher.faces.loader import load_pipeline
    from matcher.settings import Settings, apply_privacy_env

    apply_privacy_env()
    settings = Settings.model_validate_json(settings_json)
    _state["pipeline"] = load_pipeline(settings, pack)
    _state["limits"] = ImageLimits(settings.max_upload_bytes, settings.max_pixels)


def analyze_path(path: str) -> PhotoResult:
    return analyze(Path(path), _state["pipeline"], _state["limits"])


def analyze(path: Path, pipeline, limits: ImageLimits) -> PhotoResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PhotoResult(str(path), "", 0, error_code="unreadable_file", error_message=f"cannot read file: {exc.strerror}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        image = decode_image(data, limits)
    except MatcherError as exc:
        return PhotoResult(str(path), sha, len(data), error_code=exc.code, error_message=exc.message)
    faces = pipeline.analyze_one(image.bgr)
    return PhotoResult(
        path=str(path),
        sha256=sha,
        size_bytes=len(data),
        format=image.format,
        width=image.width,
        height=image.height,
        taken_at=image.taken_at,
        faces=tuple(
            FaceResult(
                box=(f.box.x1, f.box.y1, f.box.x2, f.box.y2),
                landmarks=np.round(f.detection.landmarks, 2).tolist(),
                det_score=float(f.detection.score),
                quality=float(f.quality.score),
                crop_jpeg=encode_jpeg(f.crop, quality=92),
                embedding=np.ascontiguousarray(f.embedding, np.float32).tobytes(),
            )
            for f in faces
        ),
        data=data,
    )
