"""Face alignment: 5 landmarks -> 112x112 crop on the ArcFace template.

Thin wrapper over insightface's ``face_align`` (a small, well-tested pure function)
rather than a rewrite; SFace and ArcFace both use this template.
"""

from __future__ import annotations

import warnings

import numpy as np


def norm_crop(bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    from insightface.utils import face_align  # imported lazily: insightface's package import is slow

    with warnings.catch_warnings():  # scikit-image >= 0.26 deprecates the call insightface makes
        warnings.simplefilter("ignore", FutureWarning)
        return face_align.norm_crop(bgr, np.asarray(landmarks, dtype=np.float32), image_size=size)


def mirror_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image, kept in (left eye, right eye, nose, left mouth, right mouth) order."""
    lm = np.asarray(landmarks, dtype=np.float32).copy()
    lm[:, 0] = width - 1 - lm[:, 0]
    return lm[[1, 0, 2, 4, 3]]
