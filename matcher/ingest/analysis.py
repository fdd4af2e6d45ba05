"""Work done per photo or video during batch indexing, in this process or in a worker process.

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
from matcher.faces.loader import load_pipeline
from matcher.faces.packs import get_pack
from matcher.imaging import ImageLimits, decode_image, encode_jpeg, sniff_format
from matcher.settings import Settings, apply_privacy_env
from matcher.types import MediaKind
from matcher.vectors import to_bytes
from matcher.video import VideoOptions, analyze_video, sniff_video


@dataclass(frozen=True)
class FaceResult:
    box: tuple[float, float, float, float]
    landmarks: list
    det_score: float
    quality: float
    crop_jpeg: bytes = field(repr=False)
    embedding: bytes = field(repr=False)
    frame_time: float | None = None  # video only: seconds from the start
    track: int | None = None  # video only: the face track it belongs to


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
    kind: str = MediaKind.PHOTO
    main_track: int | None = None  # video only: the track seen most often (the template)
    warnings: tuple[str, ...] = ()


_state: dict = {}


def init_worker(settings_json: str, pack: str) -> None:
    apply_privacy_env()
    settings = Settings.model_validate_json(settings_json)
    _state["pipeline"] = load_pipeline(settings, pack)
    _state["limits"] = ImageLimits(settings.max_upload_bytes, settings.max_pixels)
    _state["video"] = video_options(settings, pack)


def video_options(settings, pack: str):
    return VideoOptions.from_settings(settings, get_pack(settings.models_dir, pack).same_person_threshold)


def analyze_path(path: str) -> PhotoResult:
    return analyze(Path(path), _state["pipeline"], _state["limits"], _state["video"])


def _face_result(f, frame_time: float | None = None, track: int | None = None) -> FaceResult:
    return FaceResult(
        box=(f.box.x1, f.box.y1, f.box.x2, f.box.y2),
        landmarks=np.round(f.detection.landmarks, 2).tolist(),
        det_score=float(f.detection.score),
        quality=float(f.quality.score),
        crop_jpeg=encode_jpeg(f.crop, quality=92),
        embedding=to_bytes(f.embedding),
        frame_time=frame_time,
        track=track,
    )


def _analyze_video(path: Path, data: bytes, sha: str, pipeline, options) -> PhotoResult:
    """A video as a PhotoResult: the kept faces of every track, tagged with time and track."""
    try:
        result = analyze_video(data, pipeline, options)
    except MatcherError as exc:
        return PhotoResult(str(path), sha, len(data), kind=MediaKind.VIDEO, error_code=exc.code, error_message=exc.message)
    main = result.main_track
    return PhotoResult(
        path=str(path),
        sha256=sha,
        size_bytes=len(data),
        format=result.format,
        width=result.width,
        height=result.height,
        faces=tuple(_face_result(tf.face, tf.time, t.id) for t in result.tracks for tf in t.faces),
        data=data,
        kind=MediaKind.VIDEO,
        main_track=main.id if main else None,
        warnings=result.warnings,
    )


def analyze(path: Path, pipeline, limits: ImageLimits, video=None) -> PhotoResult:
    """One archive file; see ``analyze_media``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PhotoResult(str(path), "", 0, error_code="unreadable_file", error_message=f"cannot read file: {exc.strerror}")
    return analyze_media(data, str(path), pipeline, limits, video)


def analyze_media(data: bytes, name: str, pipeline, limits: ImageLimits, video=None) -> PhotoResult:
    """One photo or video; a video (recognised by its content, not its name) is analysed with
    ``video`` options (``VideoOptions``; defaults when None). Errors come back in the result."""
    sha = hashlib.sha256(data).hexdigest()
    if sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None:
        return _analyze_video(Path(name), data, sha, pipeline, video or VideoOptions())
    try:
        image = decode_image(data, limits)
    except MatcherError as exc:
        return PhotoResult(name, sha, len(data), error_code=exc.code, error_message=exc.message)
    faces, retried = pipeline.analyze_photo(image.bgr)
    return PhotoResult(
        path=name,
        sha256=sha,
        size_bytes=len(data),
        format=image.format,
        width=image.width,
        height=image.height,
        taken_at=image.taken_at,
        faces=tuple(_face_result(f) for f in faces),
        data=data,
        warnings=(retried,) if retried else (),
    )
