"""Remote search on real embeddings of the shared photos (the default pack): one photo of
each identity is a report at the asking instance, the identity's other photos are one
child record's template faces at the holder, among single-photo identities and synthetic
impostor-matched records. The encrypted search must rank the holder's records as the
plaintext inner products do: the true child's handle first wherever plaintext puts it first."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from matcher.evaluation.synthetic import impostor_vectors
from matcher.federation import handles, holder, requester
from matcher.federation import messages as fm
from matcher.federation.gallery import Gallery
from matcher.federation.policy import PeerPolicy
from matcher.imaging import decode_image
from matcher.types import SearchMode, Side

PEER = "c" * 32
POLICY = PeerPolicy(sides=frozenset({Side.CHILD}), modes=frozenset(SearchMode))
SYNTHETIC = 4500  # with the real rows: two answer ciphertexts


@pytest.fixture(scope="module")
def split(pipeline, labelled_photos):
    by_identity: dict[str, list[np.ndarray]] = defaultdict(list)
    for photo in labelled_photos:
        faces = pipeline.analyze_one(decode_image(photo.path.read_bytes()).bgr)
        if faces:
            by_identity[photo.identity].append(faces[0].embedding)  # the largest face: single-subject photos
    reports, rows, ids, truth = [], [], [], {}
    for number, (_identity, embeddings) in enumerate(sorted(by_identity.items()), start=1):
        if len(embeddings) >= 2:
            truth[len(reports)] = number
            reports.append(embeddings[0])
            embeddings = embeddings[1:]
        rows += embeddings
        ids += [number] * len(embeddings)
    fake = impostor_vectors(SYNTHETIC, 128, 0.147, 0.098, seed=5)
    gallery = Gallery(Side.CHILD, np.array(ids + list(range(10_000, 10_000 + SYNTHETIC))), np.vstack([np.stack(rows), fake]))
    return np.stack(reports), gallery, truth


def plaintext_ranking(gallery: Gallery, probe: np.ndarray) -> list[tuple[int, float]]:
    scores = gallery.embeddings @ probe
    best: dict[int, float] = {}
    for rid, s in zip(gallery.record_ids.tolist(), scores.tolist(), strict=True):
        best[rid] = max(best.get(rid, -2.0), s)
    return sorted(best.items(), key=lambda kv: -kv[1])


@pytest.mark.slow
def test_encrypted_remote_search_puts_the_true_childs_handle_first_where_plaintext_does(split):
    reports, gallery, truth = split
    assert len(truth) >= 15 and gallery.rows > SYNTHETIC
    first_by_plaintext = first_by_encrypted = 0
    for index, true_record in truth.items():
        store = handles.MemoryHandleStore()
        search = requester.EncryptedSearch(reports[index], Side.CHILD)
        request = fm.decode_request(fm.encode_request(search.request))
        answer = fm.decode_encrypted_answer(
            fm.encode_encrypted_answer(holder.answer(request, gallery, policy=POLICY, peer=PEER, handles=store, now=0, ttl_s=60))
        )
        leads = search.leads(answer, 20)
        got = [(handles.resolve(store, lead.handle, PEER, 1), lead.score) for lead in leads]
        want = plaintext_ranking(gallery, reports[index])[:20]
        assert [r for r, _ in got[:5]] == [r for r, _ in want[:5]]
        assert max(abs(a - b) for (_, a), (_, b) in zip(got, want, strict=True)) < 1e-4
        first_by_plaintext += want[0][0] == true_record
        first_by_encrypted += got[0][0] == true_record
    assert first_by_encrypted == first_by_plaintext
    assert first_by_plaintext >= 0.8 * len(truth), (first_by_plaintext, len(truth))


@pytest.mark.slow
def test_plain_remote_search_returns_the_same_first_records(split):
    reports, gallery, truth = split
    for index in truth:
        store = handles.MemoryHandleStore()
        request = fm.decode_request(fm.encode_request(requester.plain_request(reports[index], Side.CHILD, 10)))
        answer = fm.decode_plain_answer(fm.encode_plain_answer(holder.answer(request, gallery, policy=POLICY, peer=PEER, handles=store, now=0, ttl_s=60)))
        want = plaintext_ranking(gallery, reports[index])[:10]
        got = [(handles.resolve(store, answer.handle(p), PEER, 1), s) for p, s in answer.faces[0]]
        assert [r for r, _ in got] == [r for r, _ in want]
        assert max(abs(a - b) for (_, a), (_, b) in zip(got, want, strict=True)) < 1e-5
