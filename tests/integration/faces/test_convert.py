"""The ONNX rewrites keep the models' outputs: compared against OpenCV's own runtime."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest

from matcher.faces import convert
from matcher.faces.packs import get_pack
from matcher.faces.runtime import make_session
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def pack():
    return get_pack(ROOT / "models", "yunet_sface")


@pytest.mark.parametrize(
    ("role", "size", "failure"),
    [("detector", 640, "block_size must be 0"), ("recognizer", 112, "missing from input feed")],
)
def test_original_block_quantised_graphs_fail_without_conversion(pack, role, size, failure):
    """The reason the converter exists: onnxruntime cannot run the shipped files as they are."""
    session = make_session(pack.resolve(getattr(pack, role)), threads=1)
    with pytest.raises(Exception, match=failure):
        session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, size, size), np.float32)})


def test_folded_sface_matches_opencv_runtime(pack, pipeline, astronaut_bgr):
    face = pipeline.detect(astronaut_bgr)[0]
    from matcher.faces.align import norm_crop

    crop = norm_crop(astronaut_bgr, face.landmarks)
    reference = cv2.FaceRecognizerSF.create(str(pack.resolve(pack.recognizer)), "").feature(crop).reshape(-1)
    ours = pipeline.recognizer.embed(crop[None])[0]
    cosine = float(reference @ ours / np.linalg.norm(reference) / np.linalg.norm(ours))
    assert cosine > 0.9999


def test_folded_yunet_and_our_decoder_match_opencv_detector(pack, pipeline, astronaut_bgr):
    """Same 640x640 input to OpenCV's FaceDetectorYN and to our graph + decoder: same face."""
    big = cv2.resize(astronaut_bgr, (640, 640), interpolation=cv2.INTER_LINEAR)
    detector = cv2.FaceDetectorYN.create(str(pack.resolve(pack.detector)), "", (640, 640), 0.6, 0.3, 5000)
    _, ref = detector.detect(big)
    assert ref is not None and len(ref) == 1
    x, y, bw, bh = ref[0][:4]
    ours = pipeline.detect(big)
    assert len(ours) == 1
    np.testing.assert_allclose(ours[0].box.as_list(), [x, y, x + bw, y + bh], atol=0.5)
    np.testing.assert_allclose(ours[0].landmarks, ref[0][4:14].reshape(5, 2), atol=0.5)
    assert ours[0].score == pytest.approx(float(ref[0][14]), abs=1e-3)


def test_prelu_rewrite_gives_identical_embeddings(pack):
    folded = convert.dynamic_batch(convert.fold_constants(onnx.load(str(pack.resolve(pack.recognizer)))))
    rewritten = convert.rewrite_prelu(folded)
    assert not any(n.op_type == "PRelu" for n in rewritten.graph.node)
    batch = np.random.default_rng(0).uniform(0, 255, (4, 3, 112, 112)).astype(np.float32)
    a = make_session(folded.SerializeToString(), 1).run(None, {"data": batch})[0]
    b = make_session(rewritten.SerializeToString(), 1).run(None, {"data": batch})[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_blocked_dequantize_matches_reference_formula():
    x = np.array([[0, 1, 2, 3, -4, 5]], dtype=np.int8)
    scale = np.array([[0.5, 2.0]], dtype=np.float32)
    zero = np.array([[1, -1]], dtype=np.int8)
    out = convert._dequantize(x, scale, zero, axis=1, block_size=3)
    np.testing.assert_allclose(out, [[-0.5, 0.0, 0.5, 8.0, -6.0, 12.0]])
