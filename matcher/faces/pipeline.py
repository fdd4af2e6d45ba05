"""Image -> faces: detect, align, assess quality, embed (batched across faces and images)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.faces import quality
from matcher.faces.align import mirror_landmarks, norm_crop
from matcher.faces.base import Detector, Recognizer
from matcher.faces.retry import RETRY_WARNING, retry_variants
from matcher.faces.types import Box, DetectedFace, Detection
from matcher.vectors import l2_normalize


@dataclass(frozen=True)
class PipelineConfig:
    pack: str
    score_threshold: float = 0.6
    min_face_px: int = 20
    batch_size: int = 16
    mirror_tta: bool = False
    face_retry: bool = True  # photos with no face get a second look (faces.retry)


# optional hook told how long each model stage took: ("detect" | "embed", seconds)
StageObserver = Callable[[str, float], None]


class Pipeline:
    """Owns one detector and one recognizer of the same pack. ``observe`` (optional) is told
    the seconds each detector and recognizer call took (``api.metrics``)."""

    def __init__(self, detector: Detector, recognizer: Recognizer, config: PipelineConfig, observe: StageObserver | None = None) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.config = config
        self.observe = observe

    @property
    def pack(self) -> str:
        return self.config.pack

    @property
    def dim(self) -> int:
        return self.recognizer.dim

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        started = time.perf_counter()
        found = self.detector.detect(bgr, self.config.score_threshold)
        if self.observe is not None:
            self.observe("detect", time.perf_counter() - started)
        return [d for d in found if min(d.box.width, d.box.height) >= self.config.min_face_px]

    def embed_crops(self, crops: np.ndarray, mirror: bool | None = None) -> np.ndarray:
        """(n,112,112,3) BGR crops -> (n, dim) unit float32, in batches of ``batch_size``.
        ``mirror``: mirror TTA for this call (default: the pack's ``mirror_tta`` setting)."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        mirror = self.config.mirror_tta if mirror is None else mirror
        started = time.perf_counter()
        out = []
        step = self.config.batch_size
        for start in range(0, len(crops), step):
            batch = crops[start : start + step]
            vectors = self.recognizer.embed(batch)
            if mirror:
                vectors = l2_normalize(vectors) + l2_normalize(self.recognizer.embed(batch[:, :, ::-1]))
            out.append(vectors)
        if self.observe is not None:
            self.observe("embed", time.perf_counter() - started)
        return l2_normalize(np.concatenate(out))

    def add_mirror(self, crops: np.ndarray, plain: np.ndarray) -> np.ndarray:
        """Unit vectors of ``crops`` embedded with ``mirror=False`` -> what ``embed_crops`` gives
        with mirror TTA on (only the mirror images are embedded). Unchanged when it is off."""
        if not self.config.mirror_tta or len(crops) == 0:
            return plain
        started = time.perf_counter()
        step = self.config.batch_size
        mirrored = np.concatenate([self.recognizer.embed(crops[s : s + step, :, ::-1]) for s in range(0, len(crops), step)])
        if self.observe is not None:
            self.observe("embed", time.perf_counter() - started)
        return l2_normalize(l2_normalize(plain) + l2_normalize(mirrored))

    def analyze(self, images: Sequence[np.ndarray], mirror: bool | None = None) -> list[list[DetectedFace]]:
        """Faces of each image, largest first; embeddings computed in shared batches
        (``mirror``: as in ``embed_crops``)."""
        per_image: list[list[tuple[Detection, np.ndarray]]] = []
        for bgr in images:
            detections = sorted(self.detect(bgr), key=lambda d: -d.box.area)
            per_image.append([(d, norm_crop(bgr, d.landmarks)) for d in detections])
        crops = [crop for faces in per_image for _, crop in faces]
        vectors = self.embed_crops(np.stack(crops), mirror) if crops else np.zeros((0, self.dim), np.float32)
        result: list[list[DetectedFace]] = []
        i = 0
        for faces in per_image:
            row = []
            for detection, crop in faces:
                row.append(DetectedFace(detection, quality.assess(detection, crop), crop, vectors[i]))
                i += 1
            result.append(row)
        return result

    def analyze_one(self, bgr: np.ndarray) -> list[DetectedFace]:
        return self.analyze([bgr])[0]

    def analyze_photo(self, bgr: np.ndarray) -> tuple[list[DetectedFace], str | None]:
        """A photo's faces; when none is found and ``face_retry`` is on, enhanced versions
        of the photo are tried (``faces.retry``) and a warning says that one was needed.
        Boxes and landmarks are always in the original photo's pixels."""
        faces = self.analyze_one(bgr)
        if faces or not self.config.face_retry:
            return faces, None
        for how, image, scale in retry_variants(bgr):
            found = self.analyze_one(image)
            if found:
                return [_rescaled(f, scale) for f in found], RETRY_WARNING.format(how)
        return [], None


def _rescaled(face: DetectedFace, scale: float) -> DetectedFace:
    if scale == 1.0:
        return face
    d = face.detection
    b = d.box
    detection = Detection(Box(b.x1 / scale, b.y1 / scale, b.x2 / scale, b.y2 / scale), (d.landmarks / scale).astype(np.float32), d.score)
    return DetectedFace(detection, face.quality, face.crop, face.embedding)


__all__ = ["Pipeline", "PipelineConfig", "mirror_landmarks"]
