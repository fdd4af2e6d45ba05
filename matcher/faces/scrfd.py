"""SCRFD detector (insightface buffalo_l), through insightface's own ``SCRFD`` class
on a session we create (so threads and providers stay under our control)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matcher.faces.types import Box, Detection


class SCRFDDetector:
    def __init__(self, path: Path, session, input_size: int = 640, nms_threshold: float = 0.4) -> None:
        from insightface.model_zoo.scrfd import SCRFD

        self.model = SCRFD(model_file=str(path), session=session)
        self.model.prepare(-1, input_size=(input_size, input_size), nms_thresh=nms_threshold)
        self.size = input_size

    def detect(self, bgr: np.ndarray, score_threshold: float = 0.5) -> list[Detection]:
        boxes, marks = self.model.detect(bgr, input_size=(self.size, self.size), det_thresh=score_threshold)
        h, w = bgr.shape[:2]
        found = []
        for (x1, y1, x2, y2, score), lm in zip(boxes, marks if marks is not None else [None] * len(boxes), strict=True):
            x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
            if lm is None or x2 <= x1 or y2 <= y1:
                continue
            found.append(Detection(Box(float(x1), float(y1), float(x2), float(y2)), lm.astype(np.float32), float(score)))
        return sorted(found, key=lambda d: -d.score)
