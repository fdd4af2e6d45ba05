"""Image -> faces: detect, align, assess quality, embed (batched across faces and images)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matcher.faces.align import mirror_landmarks, norm_crop
from matcher.faces import quality
from matcher.faces.base import Detector, Recognizer
from matcher.faces.types import Detection, Face
from matcher.vectors import l2_normalize


@dataclass(frozen=True)
class PipelineConfig:
    pack: str
    score_threshold: float = 0.6
    min_face_px: int = 20
    batch_size: int = 16
    mirror_tta: bool = False


class Pipeline:
    """Owns one detector and one recognizer of the same pack."""

    def __init__(self, detector: Detector, recognizer: Recognizer, config: PipelineConfig) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.config = config

    @property
    def pack(self) -> str:
        return self.config.pack

    @property
    def dim(self) -> int:
        return self.recognizer.dim

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        found = self.detector.detect(bgr, self.config.score_threshold)
        return [d for d in found if min(d.box.width, d.box.height) >= self.config.min_face_px]

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """(n,112,112,3) BGR crops -> (n, dim) unit float32, in batches of ``batch_size``."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        step = self.config.batch_size
        for start in range(0, len(crops), step):
            batch = crops[start : start + step]
            vectors = self.recognizer.embed(batch)
            if self.config.mirror_tta:
                vectors = l2_normalize(vectors) + l2_normalize(self.recognizer.embed(batch[:, :, ::-1]))
            out.append(vectors)
        return l2_normalize(np.concatenate(out))

    def analyze(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces of each image, largest first; embeddings computed in shared batches."""
        per_image: list[list[tuple[Detection, np.ndarray]]] = []
        for bgr in images:
            detections = sorted(self.detect(bgr), key=lambda d: -d.box.area)
            per_image.append([(d, norm_crop(bgr, d.landmarks)) for d in detections])
        crops = [crop for faces in per_image for _, crop in faces]
        vectors = self.embed_crops(np.stack(crops)) if crops else np.zeros((0, self.dim), np.float32)
        result: list[list[Face]] = []
        i = 0
        for faces in per_image:
            row = []
            for detection, crop in faces:
                row.append(Face(detection, quality.assess(detection, crop), crop, vectors[i]))
                i += 1
            result.append(row)
        return result

    def analyze_one(self, bgr: np.ndarray) -> list[Face]:
        return self.analyze([bgr])[0]


__all__ = ["Pipeline", "PipelineConfig", "mirror_landmarks"]
