"""The two model roles. Each model module implements one of these; the pipeline knows only these."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from matcher.faces.types import Detection


class Detector(Protocol):
    def detect(self, bgr: np.ndarray, score_threshold: float) -> list[Detection]:
        """All faces in a BGR uint8 image, boxes and landmarks in its pixel coordinates."""
        ...


class Recognizer(Protocol):
    dim: int

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) aligned BGR uint8 crops -> (n, dim) float32, not yet normalised."""
        ...
