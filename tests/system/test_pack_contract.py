"""The contract every model pack must keep, run over every ``models/*/pack.toml``.

One suite for all packs (as CompreFace runs one suite over every detector plugin): a pack
that loads must find a face in a real photo with a box inside the image, five landmarks
inside the box and a score in [0, 1]; give unit float32 embeddings of the manifest's size;
put the same person closer than different people; give a mirrored face a similar vector;
and give the same vectors whether faces are embedded together or one by one. A pack whose
files are not on this machine (buffalo_l is placed by an operator) is skipped, saying which.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcher.faces.loader import load_pipeline
from matcher.faces.packs import get_pack, list_packs, pack_state
from matcher.imaging import decode_image
from matcher.vectors import cosine_matrix
from tests.conftest import ROOT, make_settings

PACKS = [pack.name for pack in list_packs(ROOT / "models")]


@pytest.fixture(scope="module", params=PACKS)
def pack_pipeline(request, model_cache):
    pack = get_pack(ROOT / "models", request.param)
    state = pack_state(pack)
    if not state.ready:
        pytest.skip(f"model pack {pack.name}: files not available here ({'; '.join(state.problems)})")
    return pack, load_pipeline(make_settings(model_cache, pack=pack.name), pack.name)


def test_every_pack_manifest_is_found():
    assert {"yunet_sface", "buffalo_l"} <= set(PACKS)


def test_pack_finds_a_face_with_box_in_image_landmarks_in_box_and_score_in_unit_range(pack_pipeline, astronaut_bgr):
    pack, pipeline = pack_pipeline
    faces = pipeline.analyze_one(astronaut_bgr)
    assert faces, f"{pack.name} found no face in the astronaut photo"
    height, width = astronaut_bgr.shape[:2]
    for face in faces:
        box = face.box
        assert 0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height, box
        assert face.detection.landmarks.shape == (5, 2)
        for x, y in face.detection.landmarks:
            assert box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2, (x, y, box)
        assert 0.0 <= face.detection.score <= 1.0


def test_pack_embeddings_are_unit_float32_of_the_manifest_size(pack_pipeline, astronaut_bgr):
    pack, pipeline = pack_pipeline
    assert pipeline.dim == pack.embedding_dim
    face = pipeline.analyze_one(astronaut_bgr)[0]
    assert face.embedding.dtype == np.float32
    assert face.embedding.shape == (pack.embedding_dim,)
    assert float(np.linalg.norm(face.embedding)) == pytest.approx(1.0, abs=1e-5)


def test_pack_mirror_image_gives_a_similar_embedding(pack_pipeline, astronaut_bgr):
    _, pipeline = pack_pipeline
    mirrored = np.ascontiguousarray(astronaut_bgr[:, ::-1])
    a, b = pipeline.analyze_one(astronaut_bgr)[0], pipeline.analyze_one(mirrored)[0]
    assert float(a.embedding @ b.embedding) > 0.5


def test_pack_batch_embedding_equals_one_by_one(pack_pipeline, astronaut_bgr):
    _, pipeline = pack_pipeline
    crops = np.stack([f.crop for img in (astronaut_bgr, np.ascontiguousarray(astronaut_bgr[:, ::-1])) for f in pipeline.analyze_one(img)])
    together = pipeline.embed_crops(crops)
    alone = np.concatenate([pipeline.embed_crops(crops[i : i + 1]) for i in range(len(crops))])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def _two_photos_per_identity(labelled_photos, identities: int):
    by_identity: dict[str, list] = {}
    for photo in labelled_photos:
        by_identity.setdefault(photo.identity, []).append(photo)
    chosen = [photos[:2] for _, photos in sorted(by_identity.items()) if len(photos) >= 2]
    return [p for pair in chosen[:identities] for p in pair]


def test_pack_puts_the_same_person_closer_than_different_people(pack_pipeline, labelled_photos):
    _, pipeline = pack_pipeline
    embeddings, identities = [], []
    for photo in _two_photos_per_identity(labelled_photos, identities=10):
        faces = pipeline.analyze_one(decode_image(photo.path.read_bytes()).bgr)
        if faces:
            embeddings.append(faces[0].embedding)  # largest face: single-subject photos
            identities.append(photo.identity)
    ids = np.array(identities)
    assert len(set(ids)) >= 5, "too few identities with a detected face"
    sims = cosine_matrix(np.stack(embeddings), np.stack(embeddings))
    upper = np.triu_indices(len(ids), k=1)
    same_mask = ids[upper[0]] == ids[upper[1]]
    same, different = sims[upper][same_mask], sims[upper][~same_mask]
    assert same.size and different.size
    assert float(np.median(same)) > float(np.percentile(different, 95)), (np.median(same), np.percentile(different, 95))
