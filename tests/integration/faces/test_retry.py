"""Faces in old photos: a faded, small print yields no face at first; the retry (contrast
equalised, upscaled) finds it, maps it back to the original pixels and says so."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from matcher.faces.pipeline import Pipeline
from matcher.faces.retry import equalise, retry_variants
from matcher.imaging import encode_jpeg
from matcher.ingest.analysis import analyze_media


def faded_print(bgr: np.ndarray, scale: float = 0.15, contrast: float = 0.3) -> np.ndarray:
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) * contrast + 160 * (1 - contrast)).clip(0, 255).astype(np.uint8)


def test_retry_variants_are_equalised_and_upscaled():
    img = faded_print(np.full((400, 400, 3), 128, np.uint8))
    variants = retry_variants(img)
    assert [scale for _, _, scale in variants] == [1.0, 2.0]
    assert variants[1][1].shape[:2] == (img.shape[0] * 2, img.shape[1] * 2)
    ramp = np.tile(np.linspace(100, 140, 64, dtype=np.uint8), (64, 1))
    flat = cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR)
    assert np.ptp(equalise(flat)[:, :, 0].astype(int)) > np.ptp(ramp.astype(int))  # more contrast


def test_faded_print_face_found_by_retry_in_original_pixels(pipeline, astronaut_bgr):
    faded = faded_print(astronaut_bgr)
    assert pipeline.analyze_one(faded) == []
    faces, warning = pipeline.analyze_photo(faded)
    assert len(faces) == 1 and warning and "enhancing" in warning
    x1, y1, x2, y2 = faces[0].box.as_list()
    h, w = faded.shape[:2]
    assert 0 <= x1 < x2 <= w + 1 and 0 <= y1 < y2 <= h + 1  # mapped back from the ×2 image
    # the same face as in the full-size photo (same person)
    full = pipeline.analyze_one(astronaut_bgr)[0]
    assert float(full.embedding @ faces[0].embedding) > 0.3


def test_retry_can_be_switched_off(pipeline, astronaut_bgr):
    off = Pipeline(pipeline.detector, pipeline.recognizer, replace(pipeline.config, face_retry=False))
    assert off.analyze_photo(faded_print(astronaut_bgr)) == ([], None)


def test_upload_analysis_carries_the_retry_warning(pipeline, services, astronaut_bgr):
    data = encode_jpeg(faded_print(astronaut_bgr), quality=95)
    result = analyze_media(data, "old-print.jpg", pipeline, services.limits)
    assert len(result.faces) == 1
    assert any("enhancing" in w for w in result.warnings)
