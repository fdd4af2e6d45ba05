"""Signed requests between instances: the one that verifies, and each refusal on its own."""

from __future__ import annotations

import pytest

from matcher.errors import BadSignature, PeerAuthError, ReplayedRequest, StaleRequest, UnknownPeer, UnsignedRequest
from matcher.federation import signing
from matcher.federation.keys import SigningKey
from matcher.federation.nonces import MemoryNonceStore

ALICE, BOB, MALLORY = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
NOW = 1_800_000_000.0
WINDOW = 300
TARGET = "/v1/federation/search?side=children"
BODY = b"\x00encrypted probe bytes\xff"


def peers(key_id: str):
    return {ALICE.key_id: ALICE.public}.get(key_id)


def verify(headers, *, method="POST", target=TARGET, body=BODY, nonces=None, now=NOW, own=BOB.key_id):
    return signing.verify_request(
        method, target, headers, body, own_key_id=own, peer_keys=peers, nonces=MemoryNonceStore() if nonces is None else nonces, window_s=WINDOW, now=now
    )


def signed(**kw):
    args = {"key": ALICE, "recipient": BOB.key_id, "method": "POST", "target": TARGET, "body": BODY, "now": NOW} | kw
    return signing.sign_request(**args)


def test_a_signed_request_verifies_and_names_its_sender():
    headers = signed()
    got = verify(headers)
    assert got.sender == ALICE.key_id and got.timestamp == int(NOW) and got.nonce == headers[signing.H_NONCE]
    assert got.body_sha256 == signing.body_digest(BODY)


def test_header_names_are_case_insensitive():
    assert verify({k.lower(): v for k, v in signed().items()}).sender == ALICE.key_id


def test_unsigned_request_is_refused():
    with pytest.raises(UnsignedRequest, match="not signed"):
        verify({})


def test_request_missing_one_signature_header_is_refused_naming_it():
    headers = signed()
    del headers[signing.H_NONCE]
    with pytest.raises(UnsignedRequest, match=signing.H_NONCE):
        verify(headers)


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY + b"x"},
        {"target": "/v1/federation/search?side=reports"},
        {"target": "/v1/federation/disclose"},
        {"method": "PUT"},
    ],
    ids=["body", "query", "path", "method"],
)
def test_altered_request_is_refused_as_bad_signature(change):
    with pytest.raises(BadSignature):
        verify(signed(), **change)


def test_signature_made_with_another_key_is_refused():
    headers = signed()
    forged = signing.sign_request(MALLORY, BOB.key_id, "POST", TARGET, BODY, now=NOW)
    headers[signing.H_SIGNATURE] = forged[signing.H_SIGNATURE]
    with pytest.raises(BadSignature, match="does not verify"):
        verify(headers)


def test_signed_headers_cannot_be_edited():
    headers = signed()
    headers[signing.H_TIME] = str(int(NOW) + 1)
    with pytest.raises(BadSignature):
        verify(headers)
    headers = signed()
    headers[signing.H_NONCE] = "A" * 24
    with pytest.raises(BadSignature):
        verify(headers)


def test_malformed_signature_header_is_refused():
    headers = signed()
    headers[signing.H_SIGNATURE] = "not-base64"
    with pytest.raises(BadSignature, match="not a base64 Ed25519 signature"):
        verify(headers)


def test_request_from_an_unknown_key_is_refused():
    with pytest.raises(UnknownPeer, match=MALLORY.key_id):
        verify(signing.sign_request(MALLORY, BOB.key_id, "POST", TARGET, BODY, now=NOW))


def test_request_addressed_to_another_instance_is_refused():
    carol = SigningKey.generate()
    with pytest.raises(BadSignature, match="another instance"):
        verify(signed(recipient=carol.key_id))


@pytest.mark.parametrize("offset", [-(WINDOW + 1), WINDOW + 1], ids=["expired", "from-the-future"])
def test_request_outside_the_clock_window_is_refused(offset):
    with pytest.raises(StaleRequest, match=f"within {WINDOW} s"):
        verify(signed(now=NOW + offset))


@pytest.mark.parametrize("offset", [-WINDOW, WINDOW])
def test_request_at_the_edge_of_the_window_is_accepted(offset):
    assert verify(signed(now=NOW + offset)).sender == ALICE.key_id


def test_replayed_request_is_refused_and_a_fresh_nonce_is_not():
    nonces = MemoryNonceStore()
    headers = signed()
    verify(headers, nonces=nonces)
    with pytest.raises(ReplayedRequest):
        verify(headers, nonces=nonces, now=NOW + 10)
    assert verify(signed(), nonces=nonces).sender == ALICE.key_id


def test_a_failed_verification_does_not_burn_the_nonce():
    nonces = MemoryNonceStore()
    headers = signed()
    with pytest.raises(BadSignature):
        verify(headers, nonces=nonces, body=b"tampered")
    assert verify(headers, nonces=nonces).sender == ALICE.key_id


def test_every_refusal_is_a_401():
    for cls in (UnsignedRequest, BadSignature, UnknownPeer, StaleRequest, ReplayedRequest):
        assert issubclass(cls, PeerAuthError) and cls.status == 401


def test_nonce_store_forgets_expired_nonces_as_it_grows():
    nonces = MemoryNonceStore()
    for i in range(3000):
        assert nonces.add("a", f"n{i}", expires_at=i, now=i)
    assert len(nonces) < 3000
    assert nonces.add("a", "n0", expires_at=5000, now=4000)  # long expired: accepted again (its timestamp check refuses it anyway)
    assert not nonces.add("a", "n2999", expires_at=5000, now=2999)


# ---- answers ----


def answer_headers(status=200, body=b"scores", nonce="N" * 24, key=BOB, to=ALICE.key_id, now=NOW):
    return signing.sign_response(key, to, nonce, status, body, now=now)


def verify_answer(headers, status=200, body=b"scores", nonce="N" * 24, now=NOW):
    return signing.verify_response(status, headers, body, peer=BOB.public, own_key_id=ALICE.key_id, request_nonce=nonce, window_s=WINDOW, now=now)


def test_a_signed_answer_verifies_for_its_own_request():
    assert verify_answer(answer_headers()).sender == BOB.key_id


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"body": b"other scores"}, BadSignature),
        ({"status": 500}, BadSignature),
        ({"nonce": "M" * 24}, BadSignature),
        ({"now": NOW + WINDOW + 1}, StaleRequest),
    ],
    ids=["body", "status", "another-request", "stale"],
)
def test_an_answer_that_does_not_match_is_refused(kw, error):
    with pytest.raises(error):
        verify_answer(answer_headers(), **kw)


def test_an_answer_signed_by_another_key_or_for_another_instance_is_refused():
    with pytest.raises(BadSignature, match="another key"):
        verify_answer(answer_headers(key=MALLORY))
    with pytest.raises(BadSignature, match="another instance"):
        verify_answer(answer_headers(to=MALLORY.key_id))
    with pytest.raises(UnsignedRequest):
        verify_answer({})
