"""Encrypted inner products (real SEAL through TenSEAL's wheel) against plaintext ones, and
the holder's refusal of probes it cannot or must not evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from matcher.errors import FederationPayloadError
from matcher.federation import ckks


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def gallery() -> np.ndarray:
    return unit(np.random.default_rng(3).normal(size=(5000, 128)))  # two answer ciphertexts, the second partly empty


@pytest.fixture(scope="module")
def probes(gallery) -> np.ndarray:
    rng = np.random.default_rng(4)
    return unit(np.vstack([gallery[4321] + 0.5 * unit(rng.normal(size=128)), rng.normal(size=(1, 128))]))


@pytest.fixture(scope="module")
def keys() -> ckks.ProbeKeys:
    return ckks.ProbeKeys()


@pytest.fixture(scope="module")
def probe(keys, probes) -> ckks.EncryptedProbe:
    return keys.encrypt(probes)


def test_decrypted_scores_equal_plaintext_inner_products_within_1e_4(keys, probe, probes, gallery):
    got = keys.decrypt(ckks.score(probe, gallery), gallery.shape[0])
    want = probes.astype(np.float64) @ gallery.astype(np.float64).T
    assert got.shape == (2, 5000)
    assert np.abs(got - want).max() < 1e-4
    assert int(np.argmax(got[0])) == 4321 == int(np.argmax(want[0]))


def test_the_probe_carries_one_rotation_key_and_four_ciphertexts_per_face(probe):
    assert probe.scheme == ckks.SCHEME.name and len(probe.faces) == 2 and all(len(f) == ckks.SCHEME.baby_steps for f in probe.faces)
    assert 0 < len(probe.rotation_keys) < ckks.SCHEME.max_object_bytes
    assert probe.nbytes < 400_000


def test_the_same_probe_encrypts_differently_each_time(keys, probes):
    again = keys.encrypt(probes[:1])
    once = keys.encrypt(probes[:1])
    assert again.faces[0][0] != once.faces[0][0]


def test_only_the_requesters_key_reads_the_answer(probe, probes, gallery):
    scores = ckks.score(probe, gallery[:100])
    stranger = ckks.ProbeKeys()
    got = stranger.decrypt(scores, 100)  # decrypts to noise, not to the scores
    want = probes.astype(np.float64) @ gallery[:100].astype(np.float64).T
    assert np.abs(got - want).max() > 1.0


def test_answer_with_the_wrong_number_of_ciphertexts_is_refused(keys, probe, gallery):
    scores = ckks.score(probe, gallery[:10])
    with pytest.raises(FederationPayloadError, match="need 2"):
        keys.decrypt(scores, 5000)


def test_unknown_scheme_is_refused(probe, gallery):
    with pytest.raises(FederationPayloadError, match="unknown encryption scheme"):
        ckks.score(dataclasses.replace(probe, scheme="ckks-n2048-weak"), gallery)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: dataclasses.replace(p, faces=(p.faces[0][:3],)),
        lambda p: dataclasses.replace(p, faces=((b"garbage" * 10, *p.faces[0][1:]),)),
        lambda p: dataclasses.replace(p, faces=((p.faces[0][0][:-100], *p.faces[0][1:]),)),
        lambda p: dataclasses.replace(p, faces=((b"x" * (ckks.SCHEME.max_object_bytes + 1), *p.faces[0][1:]),)),
        lambda p: dataclasses.replace(p, rotation_keys=b""),
        lambda p: dataclasses.replace(p, rotation_keys=p.rotation_keys[:1000]),
        lambda p: dataclasses.replace(p, faces=()),
        lambda p: dataclasses.replace(p, faces=p.faces * 17),
    ],
    ids=["missing-ciphertext", "garbage", "truncated", "oversized", "no-key", "truncated-key", "no-face", "too-many-faces"],
)
def test_damaged_probes_are_refused_with_a_payload_error(probe, gallery, damage):
    with pytest.raises(FederationPayloadError):
        ckks.score(damage(probe), gallery[:10])


def test_a_probe_at_another_scale_or_with_a_key_for_another_rotation_is_refused(probes, gallery):
    other_scale = dataclasses.replace(ckks.SCHEME, probe_scale_bits=29)  # same name, different numbers
    with pytest.raises(FederationPayloadError, match="scale"):
        ckks.score(ckks.ProbeKeys(other_scale).encrypt(probes[:1]), gallery[:10])
    other_step = dataclasses.replace(ckks.SCHEME, baby_steps=8)
    forged = ckks.ProbeKeys(other_step).encrypt(probes[:1])
    forged = dataclasses.replace(forged, faces=(forged.faces[0][:4],))
    with pytest.raises(FederationPayloadError, match="does not rotate by 4"):
        ckks.score(forged, gallery[:10])


def test_probes_must_be_unit_vectors_of_the_schemes_size(keys):
    with pytest.raises(ValueError, match="L2-normalised"):
        keys.encrypt(np.ones((1, 128), np.float32))
    with pytest.raises(ValueError, match="faces, 128"):
        keys.encrypt(unit(np.ones((1, 64))))


def test_galois_elements_follow_seals_rule():
    assert ckks.galois_element(1, 4096) == 3
    assert ckks.galois_element(4, 4096) == 81
    assert ckks.galois_element(-1, 4096) == pow(3, 2047, 8192)
    with pytest.raises(ValueError):
        ckks.galois_element(2048, 4096)
