"""YuNet face detector (OpenCV Zoo) run with onnxruntime.

The graph takes BGR 0-255 at a fixed 640x640 and returns, for strides 8/16/32,
sigmoid class and objectness scores, box offsets and 5 landmarks per anchor
point. We letterbox the image (scale so the longest side is 640, pad right and
bottom), decode exactly as OpenCV's ``FaceDetectorYN`` does, run NMS, and map
everything back to the original pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from matcher.faces.types import Box, Detection

STRIDES = (8, 16, 32)


def shrink(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale without aliasing, fast: up to 2x bilinear (every pixel still sampled);
    beyond that a bilinear step to exactly twice the target, then a 2x area average
    (half the time of one INTER_AREA on camera-size photos; mean pixel change < 0.5)."""
    if width * 2 >= bgr.shape[1]:
        return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)
    bgr = cv2.resize(bgr, (width * 2, height * 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)


def letterbox(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale the image so its longest side is ``size`` and pad to size x size (NCHW float32)."""
    h, w = bgr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = shrink(bgr, nw, nh) if scale < 1 else cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(resized, 0, size - nh, 0, size - nw, cv2.BORDER_CONSTANT, value=0)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32)[None], scale


def decode(outputs: dict[str, np.ndarray], size: int, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes xywh (n,4), landmarks (n,5,2), scores (n,)) in letterbox pixels."""
    boxes, marks, scores = [], [], []
    for stride in STRIDES:
        cols = size // stride
        cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        rows, cols_ = np.divmod(keep, cols)
        anchor = np.stack([cols_, rows], axis=1).astype(np.float32)
        b = outputs[f"bbox_{stride}"][0, keep]
        centre = (anchor + b[:, :2]) * stride
        wh = np.exp(b[:, 2:4]) * stride
        boxes.append(np.concatenate([centre - wh / 2, wh], axis=1))
        k = outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
        marks.append((k + anchor[:, None, :]) * stride)
        scores.append(score[keep])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32)
    return np.concatenate(boxes), np.concatenate(marks), np.concatenate(scores)


class YuNet:
    def __init__(self, session, input_size: int = 640, nms_threshold: float = 0.3, top_k: int = 5000) -> None:
        self.session = session
        self.size = input_size
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def forward(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob}), strict=True))

    def detect(self, bgr: np.ndarray, score_threshold: float = 0.6) -> list[Detection]:
        blob, scale = letterbox(bgr, self.size)
        boxes, marks, scores = decode(self.forward(blob), self.size, score_threshold)
        if len(scores) == 0:
            return []
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), score_threshold, self.nms_threshold, top_k=self.top_k)
        h, w = bgr.shape[:2]
        found = []
        for i in np.asarray(keep).reshape(-1):
            x, y, bw, bh = boxes[i] / scale
            x1, y1 = max(0.0, float(x)), max(0.0, float(y))
            x2, y2 = min(float(w), float(x + bw)), min(float(h), float(y + bh))
            if x2 <= x1 or y2 <= y1:
                continue
            found.append(Detection(Box(x1, y1, x2, y2), (marks[i] / scale).astype(np.float32), float(scores[i])))
        return sorted(found, key=lambda d: -d.score)
