"""SFace recognizer (OpenCV Zoo) run with onnxruntime.

Input: aligned 112x112 RGB, 0-255 (the graph subtracts 127.5 and multiplies by
1/128 itself; insightface's ArcFaceONNX would guess mean/std 127.5 for this
graph and make every face look alike). Output: 128-d, not normalised.
"""

from __future__ import annotations

import numpy as np


class SFace:
    dim = 128

    def __init__(self, session) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    @staticmethod
    def preprocess(crops: np.ndarray) -> np.ndarray:
        """(n,112,112,3) BGR uint8 -> (n,3,112,112) RGB float32 0-255."""
        return np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: self.preprocess(crops)})[0]
