"""A swept file -> *probes*: the face tracks of a video, or the faces of a field photo.

Nothing here stores anything: the probes live in memory for the sweep and only those that
become sightings are ever written (``sightings.persist``). Videos go through the same
``analyze_video`` as uploads (sampling, tracking, best faces per track); photos through the
photo pipeline with the same decoding limits.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from matcher.errors import EmptyFileError, FileTooLargeError, UnsupportedMediaError
from matcher.faces.types import Box, DetectedFace
from matcher.imaging import sniff_format
from matcher.sightings.needs import SightingServices
from matcher.types import MediaKind
from matcher.video import VideoOptions, analyze_video, sniff_video
from matcher.video.decode import SEND_INSTEAD

# A probe whose best face is below this quality (geometric mean of size, sharpness,
# frontalness and detector score; ``faces.quality``) is seen but not searched: a face of
# ~20 px or smeared by motion gives an embedding that scores against anyone, and the
# calibrated rates describe usable faces. Measured here: the crowd clip's tracks range
# 0.17-0.81, the Hamilton clip's 0.20-1.00 (Lin-Manuel Miranda's track 1.00).
MIN_QUALITY = 0.2


@dataclass(frozen=True, eq=False)
class ProbeFace:
    time: float | None  # seconds into the video; None for a photo
    box: Box
    quality: float
    crop: np.ndarray = field(repr=False)  # aligned 112x112 BGR
    embedding: np.ndarray = field(repr=False)  # unit norm

    @classmethod
    def of(cls, face: DetectedFace, time: float | None) -> ProbeFace:
        return cls(time, face.box, float(face.quality.score), face.crop, face.embedding)


@dataclass(frozen=True, eq=False)
class Probe:
    """One person as the sweep sees them: a video track, or one face of a photo."""

    id: int  # track id (video) or face number (photo)
    start: float | None
    end: float | None
    detections: int
    faces: tuple[ProbeFace, ...]

    @property
    def best_quality(self) -> float:
        return max((f.quality for f in self.faces), default=0.0)

    @property
    def searchable(self) -> bool:
        return bool(self.faces) and self.best_quality >= MIN_QUALITY

    def vectors(self) -> np.ndarray:
        return np.stack([f.embedding for f in self.faces]).astype(np.float32)

    def summary(self) -> dict:
        out = {"track": self.id, "detections": self.detections, "best_quality": round(self.best_quality, 3)}
        if self.start is not None:
            out.update(start=round(self.start, 2), end=round(self.end, 2))
        else:
            out["box"] = self.faces[0].box.as_list() if self.faces else None
        return out


@dataclass(frozen=True, eq=False)
class Footage:
    """What a sweep learned from one file (kept in memory only)."""

    kind: str  # MediaKind
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    duration: float | None
    probes: tuple[Probe, ...]
    frames_sampled: int = 0
    warnings: tuple[str, ...] = ()
    taken_at: object = None  # a photo's EXIF date (datetime), if it has one


def is_video(data: bytes) -> bool:
    return sniff_format(data[:4096]) is None and sniff_video(data[:64]) is not None


class _Counting:
    """The pipeline, counting the frames it is given (``analyze_video`` sends frames in
    small batches): progress for long videos without changing the video code."""

    def __init__(self, pipeline, tick: Callable[[int], None]) -> None:
        self._pipeline, self._tick = pipeline, tick

    def analyze(self, images, **options):
        out = self._pipeline.analyze(images, **options)
        self._tick(len(images))
        return out

    def __getattr__(self, name: str):
        return getattr(self._pipeline, name)


def expected_samples(data: bytes, limits) -> int:
    """About how many frames a video will send to the detector (its declared duration times
    the sampling rate, capped): the total of a progress bar. 0 when the container says nothing."""
    import av  # PyAV (FFmpeg): only videos need it

    try:
        with av.open(io.BytesIO(data)) as container:
            seconds = (container.duration or 0) / av.time_base
    except (av.FFmpegError, OSError, ValueError):
        return 0
    seconds = min(seconds, limits.max_duration_s)
    return int(min(limits.max_samples, seconds * limits.sample_fps + 1))


def check_upload(data: bytes, settings) -> None:
    """Refuse at once what a sweep could not read: an empty file, neither a photo nor a video
    (by content), or one over its kind's size limit. Typed 4xx errors."""
    if not data:
        raise EmptyFileError("The file is empty.")
    if is_video(data):
        if len(data) > settings.video_max_bytes:
            raise FileTooLargeError(f"Videos are limited to {settings.video_max_mb:g} MB.")
    elif sniff_format(data[:4096]) is None:
        raise UnsupportedMediaError(f"This is neither a photo nor a video we can read. Send a JPEG, PNG, WebP or HEIC photo. {SEND_INSTEAD}")
    elif len(data) > settings.max_upload_bytes:
        raise FileTooLargeError(f"Photos are limited to {settings.max_upload_mb:g} MB.")


def read_footage(services: SightingServices, data: bytes, pack: str | None = None, progress: Callable[[int, int], None] | None = None) -> Footage:
    """Probes of one file. Raises a typed ``InputError`` for an empty, oversized or
    unreadable file (the caller reports it per file and goes on). ``progress(done, total)``:
    frames analysed out of about how many (a photo counts as one)."""
    settings = services.settings
    check_upload(data, settings)
    sha = hashlib.sha256(data).hexdigest()
    if is_video(data):
        info = services.pack_info(pack)
        options = VideoOptions.from_settings(settings, info.same_person_threshold)
        pipeline = services.pipeline(pack)
        if progress is not None:
            total, done = expected_samples(data, options.limits), [0]

            def tick(n: int) -> None:
                done[0] += n
                progress(done[0], max(total, done[0]))

            pipeline = _Counting(pipeline, tick)
        result = analyze_video(data, pipeline, options)
        probes = tuple(Probe(t.id, t.start, t.end, t.detections, tuple(ProbeFace.of(f.face, f.time) for f in t.faces)) for t in result.tracks)
        return Footage(
            MediaKind.VIDEO,
            sha,
            len(data),
            result.format or result.codec or "video",
            result.width,
            result.height,
            result.duration,
            probes,
            result.frames_sampled,
            tuple(result.warnings),
        )
    analyzed = services.analyze_bytes(data, pack)  # photo limits, EXIF orientation, typed errors
    if progress is not None:
        progress(1, 1)
    image = analyzed.image
    probes = tuple(Probe(i, None, None, 1, (ProbeFace.of(f, None),)) for i, f in enumerate(analyzed.faces))
    return Footage(MediaKind.PHOTO, sha, len(data), image.format, image.width, image.height, None, probes, 1, taken_at=image.taken_at)
