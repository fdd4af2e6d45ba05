"""A second look at photos with no face (pure image maths): old prints, scans and
re-photographed photos are often low in contrast, small-faced and colour-cast.

``retry_variants`` gives the images to try, cheapest first: contrast-equalised (CLAHE on
the lightness channel, which also removes most of a colour cast's effect on the detector),
then upscaled ×2 and equalised when the photo is small enough for small faces to be the
problem. Each comes with the factor that maps its coordinates back to the original.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_UPSCALED_SIDE = 2400
RETRY_WARNING = "no face was found at first; one was found after enhancing the photo (contrast-equalised{}), as old prints and scans often need"


def equalise(bgr: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
    clahe = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(8, 8))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def retry_variants(bgr: np.ndarray) -> list[tuple[str, np.ndarray, float]]:
    """(description, image, scale) — divide coordinates by ``scale`` to map them back."""
    out = [("", equalise(bgr), 1.0)]
    if max(bgr.shape[:2]) * 2 <= MAX_UPSCALED_SIDE:
        big = cv2.resize(bgr, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
        out.append((", upscaled ×2", equalise(big), 2.0))
    return out
