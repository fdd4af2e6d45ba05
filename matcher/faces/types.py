"""Typed values at the model boundaries: frozen, validated, no behaviour beyond checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in original-image pixels; an inverted box is a bug upstream."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 >= self.x1 and self.y2 >= self.y1):
            raise ValueError(f"inverted box {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def as_list(self) -> list[float]:
        return [round(float(v), 1) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True, eq=False)
class Detection:
    """One face found by a detector: box, 5 landmarks (left eye, right eye, nose,
    left mouth corner, right mouth corner, as seen in the image) and score."""

    box: Box
    landmarks: np.ndarray  # (5, 2) float32
    score: float

    def __post_init__(self) -> None:
        if self.landmarks.shape != (5, 2):
            raise ValueError(f"landmarks must be (5, 2), got {self.landmarks.shape}")


@dataclass(frozen=True)
class Quality:
    """Why a face is good or bad for matching; ``score`` in [0, 1] combines the rest
    (see ``matcher.faces.quality``)."""

    score: float
    size_px: float
    sharpness: float
    frontal: float
    det_score: float


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """A detected face with its quality, aligned crop and L2-normalised embedding: what the
    ``Pipeline`` returns. Not to be confused with ``matcher.store.tables.Face``, the stored
    row of a face (which keeps the crop as a blob and the embedding per pack)."""

    detection: Detection
    quality: Quality
    crop: np.ndarray = field(repr=False)  # (112, 112, 3) uint8 BGR, aligned
    embedding: np.ndarray = field(repr=False)  # (dim,) float32, unit norm

    @property
    def box(self) -> Box:
        return self.detection.box

    def summary(self) -> dict:
        """JSON-ready description (no pixels, no embedding)."""
        return {
            "box": self.box.as_list(),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.detection.landmarks],
            "det_score": round(float(self.detection.score), 4),
            "quality": round(float(self.quality.score), 4),
        }
