"""ArcFace recognizer (insightface buffalo_l w600k_r50): RGB, (x - 127.5) / 127.5, 512-d."""

from __future__ import annotations

import numpy as np


class ArcFace:
    def __init__(self, session, mean: float = 127.5, std: float = 127.5) -> None:
        self.session = session
        self.mean, self.std = mean, std
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.dim = int(session.get_outputs()[0].shape[-1])

    def embed(self, crops: np.ndarray) -> np.ndarray:
        blob = (crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - self.mean) / self.std
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(blob)})[0]
