"""The real default pack on real photos: detection, alignment, quality, embeddings."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from matcher.errors import CorruptImageError, EmptyFileError, ImageTooLargeError, UnsupportedMediaError
from matcher.imaging import decode_image


def test_astronaut_has_exactly_one_face_with_landmarks_inside_the_box(services, astronaut_jpeg):
    result = services.analyze_bytes(astronaut_jpeg)
    assert len(result.faces) == 1
    face = result.faces[0]
    box = face.box
    for x, y in face.detection.landmarks:
        assert box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (128,)
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    assert face.crop.shape == (112, 112, 3)
    assert face.quality.score > 0.8  # large, sharp, frontal, confident


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def test_exif_orientation_6_gives_the_same_faces_as_the_upright_photo(services, astronaut_bgr):
    upright = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)
    # Orientation 6 means "rotate 90° clockwise to display": store the pixels turned the other way.
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    rotated = services.analyze_bytes(_jpeg_with_orientation(stored, 6))
    plain = services.analyze_bytes(_jpeg_with_orientation(upright, 1))
    assert rotated.image.orientation == 6
    assert (rotated.image.width, rotated.image.height) == (plain.image.width, plain.image.height)
    assert len(rotated.faces) == len(plain.faces) == 1
    np.testing.assert_allclose(rotated.faces[0].box.as_list(), plain.faces[0].box.as_list(), atol=3)
    assert float(rotated.faces[0].embedding @ plain.faces[0].embedding) > 0.95


def test_faces_in_a_large_photo_are_found_and_mapped_back_to_its_pixels(services, astronaut_bgr):
    """Detection runs on a downscaled copy; boxes come back in the original's coordinates."""
    big = cv2.resize(astronaut_bgr, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    small = services.pipeline().detect(astronaut_bgr)[0].box
    found = services.pipeline().detect(big)
    assert len(found) == 1
    np.testing.assert_allclose(found[0].box.as_list(), [v * 4 for v in small.as_list()], atol=8)


def test_tiny_blurry_and_profile_faces_are_kept_but_score_low(services, astronaut_bgr):
    pipeline = services.pipeline()
    sharp = pipeline.analyze_one(astronaut_bgr)[0].quality
    blurred = pipeline.analyze_one(cv2.GaussianBlur(astronaut_bgr, (0, 0), 4))
    assert len(blurred) == 1 and blurred[0].quality.sharpness < sharp.sharpness / 5
    assert blurred[0].quality.score < sharp.score
    tiny_img = cv2.resize(astronaut_bgr, (160, 160), interpolation=cv2.INTER_AREA)
    canvas = np.full((640, 640, 3), 127, np.uint8)
    canvas[240:400, 240:400] = tiny_img
    tiny = pipeline.analyze_one(canvas)
    assert len(tiny) == 1 and tiny[0].quality.size_px < 35
    assert tiny[0].quality.score < sharp.score - 0.2


def test_minimum_face_size_is_configurable(settings, astronaut_bgr):
    from matcher.faces.loader import load_pipeline

    strict = load_pipeline(settings.model_copy(update={"min_face_px": 200}))
    assert strict.detect(astronaut_bgr) == []


def test_embedding_is_batched_across_images(pipeline, astronaut_bgr):
    flipped = np.ascontiguousarray(astronaut_bgr[:, ::-1])
    together = pipeline.analyze([astronaut_bgr, flipped, astronaut_bgr])
    alone = pipeline.analyze_one(astronaut_bgr)
    assert [len(f) for f in together] == [1, 1, 1]
    np.testing.assert_allclose(together[0][0].embedding, alone[0].embedding, atol=1e-4)
    np.testing.assert_allclose(together[2][0].embedding, alone[0].embedding, atol=1e-4)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", EmptyFileError),
        (b"hello, this is a text file named photo.jpg\n", UnsupportedMediaError),
    ],
)
def test_bad_input_raises_typed_error(services, payload, error):
    with pytest.raises(error):
        services.analyze_bytes(payload)


def test_truncated_jpeg_raises_typed_error(services, astronaut_jpeg):
    with pytest.raises(CorruptImageError):
        services.analyze_bytes(astronaut_jpeg[: len(astronaut_jpeg) // 2])


def test_huge_png_header_is_refused_before_decoding(services):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    png += struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    with pytest.raises(ImageTooLargeError):
        services.analyze_bytes(png)


@pytest.mark.slow
def test_same_identity_median_beats_different_identity_99th_percentile(pipeline, labelled_photos):
    embeddings, identities, no_face = [], [], []
    for photo in labelled_photos:
        image = decode_image(photo.path.read_bytes())
        faces = pipeline.analyze_one(image.bgr)
        if not faces:
            no_face.append(photo.path.name)
            continue
        embeddings.append(faces[0].embedding)  # largest face: these are single-subject photos
        identities.append(photo.identity)
    e = np.stack(embeddings)
    ids = np.array(identities)
    sims = e @ e.T
    upper = np.triu_indices(len(ids), k=1)
    same_mask = ids[upper[0]] == ids[upper[1]]
    same, diff = sims[upper][same_mask], sims[upper][~same_mask]
    median_same, p99_diff = float(np.median(same)), float(np.percentile(diff, 99))

    np.fill_diagonal(sims, -np.inf)
    has_pair = np.array([(ids == i).sum() > 1 for i in ids])
    rank1 = float(np.mean(ids[np.argmax(sims, axis=1)][has_pair] == ids[has_pair]))
    print(
        f"\nphotos={len(labelled_photos)} no_face={no_face} same_pairs={same.size} diff_pairs={diff.size}"
        f"\nmedian same-identity cosine={median_same:.3f}  99th pct different-identity={p99_diff:.3f}"
        f"\nleave-one-out rank-1={rank1:.3f} over {int(has_pair.sum())} probes"
    )
    assert len(no_face) <= 2, no_face
    assert median_same > p99_diff
    assert rank1 >= 0.9
