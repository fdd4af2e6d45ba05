"""The holder's answers over the wire format: fresh handles per request, plain top K,
the policy checked first, and handles that resolve only for their peer, in time, while the
record exists."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import FederationPayloadError, PeerForbidden, UnknownHandle
from matcher.federation import handles, holder, requester
from matcher.federation import messages as fm
from matcher.federation.gallery import Gallery
from matcher.federation.policy import PeerPolicy, QueryFacts
from matcher.types import QueryFact, SearchMode, Side

PEER, OTHER = "a" * 32, "b" * 32
POLICY = PeerPolicy(sides=frozenset({Side.CHILD}), facts=frozenset({QueryFact.SEX}), modes=frozenset(SearchMode), max_faces=4)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    """300 records with 1 to 3 faces each (ids 1000..1299), 600 rows."""
    rng = np.random.default_rng(8)
    counts = rng.integers(1, 4, size=300)
    ids = np.repeat(np.arange(1000, 1300), counts)
    return Gallery(Side.CHILD, ids, unit(rng.normal(size=(ids.shape[0], 128))))


def plaintext_best(gallery: Gallery, probes: np.ndarray) -> dict[int, float]:
    """Each record's best score over its faces and the probe's faces."""
    scores = (probes @ gallery.embeddings.T).max(axis=0)
    best: dict[int, float] = {}
    for rid, s in zip(gallery.record_ids.tolist(), scores.tolist(), strict=True):
        best[rid] = max(best.get(rid, -2.0), s)
    return best


def over_the_wire(request, gallery, store, now=0.0, policy=POLICY, peer=PEER):
    req = fm.decode_request(fm.encode_request(request))
    ans = holder.answer(req, gallery, policy=policy, peer=peer, handles=store, now=now, ttl_s=3600)
    if isinstance(ans, fm.PlainAnswer):
        return fm.decode_plain_answer(fm.encode_plain_answer(ans))
    return fm.decode_encrypted_answer(fm.encode_encrypted_answer(ans))


def test_encrypted_search_ranks_records_like_plaintext_and_handles_resolve_to_them(gallery):
    probes = unit(gallery.embeddings[[17, 401]] + 0.3 * np.random.default_rng(1).normal(size=(2, 128)).astype(np.float32))
    store = handles.MemoryHandleStore()
    search = requester.EncryptedSearch(probes, Side.CHILD, QueryFacts(sex="female"))
    answer = over_the_wire(search.request, gallery, store)
    assert answer.rows == gallery.rows and len(answer.rows_per_handle) == 300
    leads = search.leads(answer, 10)
    best = plaintext_best(gallery, probes)
    want = sorted(best, key=lambda r: -best[r])[:10]
    got = [handles.resolve(store, lead.handle, PEER, 1.0) for lead in leads]
    assert got == want
    assert all(abs(lead.score - best[r]) < 1e-4 for lead, r in zip(leads, got, strict=True))
    assert {got[0], got[1]} == {int(gallery.record_ids[17]), int(gallery.record_ids[401])}


def test_every_request_gets_fresh_handles_and_a_fresh_order(gallery):
    probe = gallery.embeddings[:1]
    store = handles.MemoryHandleStore()
    first = over_the_wire(requester.EncryptedSearch(probe, Side.CHILD).request, gallery, store)
    second = over_the_wire(requester.EncryptedSearch(probe, Side.CHILD).request, gallery, store)
    assert first.answer_id != second.answer_id and not set(first.handles) & set(second.handles)
    order = [[handles.resolve(store, h, PEER, 1.0) for h in a.handles] for a in (first, second)]
    assert sorted(order[0]) == sorted(order[1]) == list(range(1000, 1300))
    assert order[0] != order[1]


def test_plain_mode_returns_each_faces_top_k_records_and_grants_only_those(gallery):
    probes = gallery.embeddings[[3, 250]]
    store = handles.MemoryHandleStore()
    answer = over_the_wire(requester.plain_request(probes, Side.CHILD, k=5), gallery, store)
    assert isinstance(answer, fm.PlainAnswer) and answer.records <= 10
    for f in range(2):
        best = plaintext_best(gallery, probes[f : f + 1])
        want = sorted(best, key=lambda r: -best[r])[:5]
        got = [handles.resolve(store, answer.handle(p), PEER, 1.0) for p, _ in answer.faces[f]]
        assert got == want
        assert [round(s, 5) for _, s in answer.faces[f]] == [round(best[r], 5) for r in want]
    leads = requester.plain_leads(answer, 3)
    assert leads[0].score > 0.999 and [lead.score for lead in leads] == sorted((lead.score for lead in leads), reverse=True)
    with pytest.raises(UnknownHandle):
        handles.resolve(store, answer.handle(answer.records), PEER, 1.0)


def test_policy_is_checked_before_any_row_is_read_or_handle_granted(gallery):
    store = handles.MemoryHandleStore()
    encrypted_only = PeerPolicy(sides=frozenset({Side.CHILD}))
    refusals = [
        (requester.plain_request(gallery.embeddings[:1], Side.CHILD, 5), encrypted_only, "plain search"),
        (requester.EncryptedSearch(gallery.embeddings[:1], Side.REPORT).request, POLICY, "reports"),
        (requester.EncryptedSearch(gallery.embeddings[:1], Side.CHILD, QueryFacts(2010, 2011)).request, POLICY, "birth_year_range"),
        (requester.EncryptedSearch(gallery.embeddings[:5], Side.CHILD).request, POLICY, "1 to 4"),
    ]
    for request, policy, message in refusals:
        with pytest.raises(PeerForbidden, match=message):
            over_the_wire(request, gallery, store, policy=policy)
    assert len(store) == 0


def test_handles_resolve_only_for_their_peer_in_time_and_while_the_record_exists(gallery):
    store = handles.MemoryHandleStore()
    answer = over_the_wire(requester.plain_request(gallery.embeddings[:1], Side.CHILD, 3), gallery, store, now=100.0)
    handle = answer.handle(answer.faces[0][0][0])
    assert handles.resolve(store, handle, PEER, 101.0) == int(gallery.record_ids[0])
    for bad_handle, peer, now in ((handle, OTHER, 101.0), (handle, PEER, 100.0 + 3600), ("nonsense", PEER, 101.0), (handle + "9", PEER, 101.0)):
        with pytest.raises(UnknownHandle, match="no such handle"):
            handles.resolve(store, bad_handle, peer, now)
    assert store.forget_record(int(gallery.record_ids[0])) == 1
    with pytest.raises(UnknownHandle):
        handles.resolve(store, handle, PEER, 101.0)
    assert store.purge(100.0 + 3600) == 1 and len(store) == 0


def test_an_empty_gallery_answers_with_no_rows(gallery):
    empty = Gallery(Side.CHILD, np.zeros(0, np.int64), np.zeros((0, 128), np.float32))
    search = requester.EncryptedSearch(gallery.embeddings[:1], Side.CHILD)
    answer = over_the_wire(search.request, empty, handles.MemoryHandleStore())
    assert answer.rows == 0 and search.leads(answer, 5) == []
    plain = over_the_wire(requester.plain_request(gallery.embeddings[:1], Side.CHILD, 5), empty, handles.MemoryHandleStore())
    assert plain.records == 0 and requester.plain_leads(plain, 5) == []


# ---- the wire format refuses what it cannot read ----


@pytest.fixture(scope="module")
def request_bytes(gallery) -> bytes:
    return fm.encode_request(requester.EncryptedSearch(gallery.embeddings[:1], Side.CHILD, QueryFacts(sex="male")).request)


def test_request_round_trips_over_the_wire(request_bytes):
    req = fm.decode_request(request_bytes)
    assert req.side is Side.CHILD and req.mode is SearchMode.ENCRYPTED and req.facts == QueryFacts(sex="male") and req.faces == 1


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "not a matcher federation message"),
        (lambda b: b[:4] + bytes([2]) + b[5:], "kind 2"),
        (lambda b: b[:-1], "truncated|do not match|carries"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b[:9] + b"!" + b[10:], "not JSON"),
        (lambda b: b"", "not a matcher"),
    ],
)
def test_damaged_request_bytes_are_refused(request_bytes, damage, message):
    with pytest.raises(FederationPayloadError, match=message):
        fm.decode_request(damage(request_bytes))


def test_requests_with_forbidden_facts_or_odd_fields_are_refused(request_bytes):
    import json
    import struct

    def with_header(change):
        (n,) = struct.unpack_from(">I", request_bytes, 5)
        header = json.loads(request_bytes[9 : 9 + n]) | change
        head = json.dumps(header).encode()
        return request_bytes[:5] + struct.pack(">I", len(head)) + head + request_bytes[9 + n :]

    for change, message in (
        ({"facts": {"name": "Amal"}}, "never travel"),
        ({"side": "adults"}, "side or mode"),
        ({"faces": 0}, "faces"),
        ({"faces": 2}, "carries a rotation key"),
    ):
        with pytest.raises(FederationPayloadError, match=message):
            fm.decode_request(with_header(change))
    with pytest.raises(FederationPayloadError, match="at most 10 are accepted"):
        fm.decode_request(request_bytes, max_bytes=10)


def test_a_plain_probe_must_be_unit_vectors():
    request = requester.plain_request(np.ones((1, 128), np.float32) / np.sqrt(128), Side.CHILD, 5)
    data = fm.encode_request(request)
    assert fm.decode_request(data).probe.k == 5
    bad = fm.encode_request(fm.SearchRequest(Side.CHILD, QueryFacts(), fm.PlainProbe(np.ones((1, 128), np.float32), 5)))
    with pytest.raises(FederationPayloadError, match="L2-normalised"):
        fm.decode_request(bad)
