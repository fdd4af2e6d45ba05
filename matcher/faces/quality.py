"""Face quality: how useful a face is for matching, in [0, 1].

Four factors, each mapped to [0, 1]:

* **size**: shorter side of the detector box; 20 px -> 0, 80 px or more -> 1.
  Below ~40 px recognition accuracy falls steeply.
* **sharpness**: variance of the Laplacian of the aligned 112x112 grey crop, on a
  log scale; 15 -> 0, 250 -> 1 (out-of-focus and motion-blurred faces score low).
* **frontal**: from the 5 landmarks, how far the nose sits from the eye midline
  relative to the eye distance (yaw), and eye-line roll; a profile face -> ~0.
* **detector**: detector score; 0.5 -> 0, 0.9 or more -> 1.

``score`` is their geometric mean (each floored at 0.05), so one bad factor pulls
the face down but does not zero it: tiny, profile and blurry faces are kept,
ranked low, and a person can still pick them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from matcher.faces.types import Detection, Quality

FLOOR = 0.05


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


def sharpness(crop_bgr: np.ndarray) -> float:
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def frontalness(landmarks: np.ndarray) -> float:
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = right_eye - left_eye
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 1e-3:
        return 0.0
    mid = (left_eye + right_eye) / 2
    # nose offset along the eye line, relative to eye distance: 0 frontal, ~0.5+ near profile
    yaw = abs(float(np.dot(nose - mid, eye_vec / eye_dist))) / eye_dist
    roll = abs(math.degrees(math.atan2(eye_vec[1], eye_vec[0])))
    return _ramp(0.6 - yaw, 0.0, 0.45) * _ramp(60.0 - min(roll, 60.0), 0.0, 30.0)


def assess(detection: Detection, crop_bgr: np.ndarray) -> Quality:
    size_px = min(detection.box.width, detection.box.height)
    sharp = sharpness(crop_bgr)
    front = frontalness(detection.landmarks)
    factors = (
        _ramp(size_px, 20, 80),
        _ramp(math.log10(max(sharp, 1e-6)), math.log10(15), math.log10(250)),
        front,
        _ramp(detection.score, 0.5, 0.9),
    )
    score = math.prod(max(f, FLOOR) for f in factors) ** (1 / len(factors))
    return Quality(score=round(score, 4), size_px=size_px, sharpness=sharp, frontal=front, det_score=detection.score)
