"""The slot layout of the encrypted inner products, replayed in the clear."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.federation import packing

SLOTS = 2048


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize(("rows", "baby"), [(1, 4), (2048, 4), (4096, 4), (4097, 1), (9000, 8), (300, 128)])
def test_replayed_layout_equals_the_plain_matrix_product(rows, baby):
    rng = np.random.default_rng(rows + baby)
    gallery, probe = unit(rng.normal(size=(rows, 128))), unit(rng.normal(size=128))
    assert np.allclose(packing.simulate(probe, gallery, SLOTS, baby), gallery @ probe, atol=1e-12)


def test_baby_steps_are_left_rotations_of_the_replicated_probe():
    probe = np.arange(128, dtype=float)
    u = packing.baby_step_vectors(probe, SLOTS, 4)
    assert u.shape == (4, SLOTS)
    assert np.array_equal(u[0][:256], np.tile(probe, 2))
    assert np.array_equal(u[3][:5], [3, 4, 5, 6, 7]) and u[3][125] == 0


def test_two_blocks_share_a_plaintext_as_real_and_imaginary_parts():
    rows = np.zeros((2 * SLOTS, 128))
    rows[5, 7] = 1.0  # first block, row 5: diagonal k = 2 (5 + 2 = 7)
    rows[SLOTS + 5, 7] = 2.0  # second block, same place
    planes = packing.diagonal_planes(rows, SLOTS, 1)  # baby 1: diagonal k pre-rotated by -k
    k = 2
    assert planes[k][(5 + k) % SLOTS] == 1 + 2j  # rot_{-k}(d)[i] = d[i - k]
    assert np.count_nonzero(planes) == 1


def test_scores_unpack_real_parts_then_imaginary_parts_and_refuse_too_few():
    a, b = np.array([1 + 5j, 2 + 6j]), np.array([3 + 7j, 4 + 8j])
    assert packing.unpack_scores([a, b], 7).tolist() == [1, 2, 5, 6, 3, 4, 7]
    with pytest.raises(ValueError, match="fewer"):
        packing.unpack_scores([a], 5)
    assert packing.ciphertexts_for(4096, SLOTS) == 1 and packing.ciphertexts_for(4097, SLOTS) == 2


def test_a_block_larger_than_one_plaintext_and_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="at most 4096 rows"):
        packing.diagonal_planes(np.zeros((4097, 128)), SLOTS, 4)
    with pytest.raises(ValueError, match="divisible"):
        packing.check_layout(SLOTS, 128, 3)
