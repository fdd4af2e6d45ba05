"""FaceIndex: ids, search, removal, persistence, corruption and ANN recall."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from matcher.errors import MatcherError
from matcher.index import (
    DuplicateFaceIdError,
    FaceIndex,
    IndexCorruptError,
    IndexMismatchError,
    faiss_index,
    is_stale,
    read_meta,
)

DIM = 32
PACK = "test_pack"


def unit(rows: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sparse_ids(rows: int, seed: int = 0) -> np.ndarray:
    """Database-like ids: large, unordered, not contiguous."""
    return np.random.default_rng(seed).choice(10**12, size=rows, replace=False).astype(np.int64)


def clustered_faces(n: int, dim: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Identity clusters in an anisotropic subspace (same generator as scripts/bench_index.py)."""
    rng = np.random.default_rng(seed)
    spectrum = np.exp(-np.arange(dim) / (dim / 6.0))
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    centres = (rng.standard_normal((n // 4, dim)) * spectrum) @ rotation
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def photos(who: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((who.size, dim)) * rng.uniform(0.5, 1.2, (who.size, 1)) / np.sqrt(dim)
        x = centres[who] + noise
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    who = rng.integers(0, n // 4, size=n)
    return photos(who), photos(rng.choice(who, size=queries))


@pytest.fixture(scope="module")
def faces_30k() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors, queries = clustered_faces(30_000, 128, 100, seed=3)
    return sparse_ids(30_000, seed=3), vectors, queries


@pytest.fixture(scope="module")
def ann_30k(faces_30k: tuple[np.ndarray, np.ndarray, np.ndarray]) -> FaceIndex:
    ids, vectors, _ = faces_30k
    return FaceIndex.build(PACK, 128, ids, vectors, mode="ann")


def recall(found: list[list[tuple[int, float]]], truth: list[list[tuple[int, float]]]) -> float:
    return float(np.mean([len({i for i, _ in f} & {i for i, _ in t}) / len(t) for f, t in zip(found, truth, strict=False)]))


# ---- ids, add, search, remove ------------------------------------------------------------
def test_search_returns_own_face_first_and_scores_best_first() -> None:
    ids, x = sparse_ids(500), unit(500)
    index = FaceIndex.build(PACK, DIM, ids, x)
    results = index.search(x[:10], k=20)
    for row, face_id in zip(results, ids[:10], strict=False):
        assert row[0][0] == face_id
        assert row[0][1] == pytest.approx(1.0, abs=1e-5)
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
        assert len(row) == 20


def test_scores_are_exact_cosines_of_renormalised_vectors() -> None:
    x = unit(50)
    index = FaceIndex.create(PACK, DIM)
    index.add(np.arange(50), x * np.linspace(0.5, 30, 50)[:, None])  # not unit length
    (row,) = index.search(3.0 * x[7], k=50)
    expected = x @ x[7]
    for face_id, score in row:
        assert score == pytest.approx(float(expected[face_id]), abs=1e-5)


def test_ids_round_trip_with_sparse_database_ids() -> None:
    ids = sparse_ids(300)
    index = FaceIndex.build(PACK, DIM, ids, unit(300), side="reports")
    assert len(index) == 300
    assert np.array_equal(index.ids(), np.sort(ids))
    assert index.ids().dtype == np.int64
    assert index.max_id == int(ids.max())
    assert (index.pack, index.dim, index.mode, index.side) == (PACK, DIM, "exact", "reports")


def test_remove_returns_count_and_faces_disappear_from_results() -> None:
    ids, x = sparse_ids(200), unit(200)
    index = FaceIndex.build(PACK, DIM, ids, x)
    gone = ids[:5]
    assert index.remove(np.concatenate([gone, [123, 456]])) == 5  # unknown ids are ignored
    assert index.remove(gone) == 0
    assert len(index) == 195
    found = {face_id for row in index.search(x[:5], k=195) for face_id, _ in row}
    assert not found & set(gone.tolist())
    assert set(index.ids().tolist()) == set(ids[5:].tolist())


def test_duplicate_face_ids_are_refused() -> None:
    index = FaceIndex.build(PACK, DIM, np.array([1, 2, 3]), unit(3))
    with pytest.raises(DuplicateFaceIdError):
        index.add(np.array([4, 2]), unit(2, seed=1))
    with pytest.raises(DuplicateFaceIdError):
        index.add(np.array([7, 7]), unit(2, seed=1))
    assert len(index) == 3
    index.add(np.array([4]), unit(1, seed=1))
    assert len(index) == 4


def test_wrong_dimension_is_an_index_mismatch() -> None:
    index = FaceIndex.create(PACK, DIM)
    with pytest.raises(IndexMismatchError):
        index.add(np.array([1]), unit(1, dim=DIM + 1))
    with pytest.raises(IndexMismatchError):
        index.search(unit(1, dim=64), k=5)
    assert issubclass(IndexMismatchError, MatcherError) and issubclass(IndexCorruptError, MatcherError)


@pytest.mark.parametrize(
    ("ids", "vectors"),
    [
        (np.array([1, 2]), unit(3)),  # count mismatch
        (np.array([1.0]), unit(1)),  # float ids
        (np.array([-1]), unit(1)),  # -1 means "no result" in FAISS
        (np.array([1]), np.zeros((1, DIM), np.float32)),  # zero vector
        (np.array([1]), np.full((1, DIM), np.nan, np.float32)),
        (np.array([1]), np.ones((1, DIM), np.int32)),  # not floating point
    ],
)
def test_malformed_input_is_rejected_without_changing_the_index(ids: np.ndarray, vectors: np.ndarray) -> None:
    index = FaceIndex.create(PACK, DIM)
    with pytest.raises(ValueError):
        index.add(ids, vectors)
    assert len(index) == 0


@pytest.mark.parametrize("mode", ["exact", "ann"])
def test_k_larger_than_index_and_empty_index(mode: str) -> None:
    index = FaceIndex.create(PACK, DIM, mode=mode)  # type: ignore[arg-type]
    assert index.search(unit(3), k=10) == [[], [], []]
    assert index.max_id is None and index.ids().size == 0
    index.add(np.array([10, 20, 30]), unit(3))
    rows = index.search(unit(2, seed=5), k=10)
    assert [len(r) for r in rows] == [3, 3]
    index.remove(np.array([10, 20, 30]))
    assert index.search(unit(1), k=5) == [[]]


def test_stale_index_is_detected_by_exact_id_set() -> None:
    ids = np.array([5, 9, 40, 41])
    index = FaceIndex.build(PACK, DIM, ids, unit(4))
    assert index.agrees_with(ids[::-1]) and not is_stale(index, ids)
    assert is_stale(index, ids[:3])  # count differs
    assert is_stale(index, np.array([5, 9, 40, 42]))  # max id differs
    assert is_stale(index, np.array([5, 8, 40, 41]))  # same count and max, different set
    assert not is_stale(FaceIndex.create(PACK, DIM), np.array([], dtype=np.int64))


# ---- persistence -------------------------------------------------------------------------
@pytest.fixture
def saved_exact(tmp_path: Path) -> tuple[Path, FaceIndex]:
    index = FaceIndex.build(PACK, DIM, sparse_ids(400), unit(400))
    path = tmp_path / "children.faceindex"
    index.save(path)
    return path, index


def test_save_load_round_trip_gives_identical_results(saved_exact: tuple[Path, FaceIndex]) -> None:
    path, index = saved_exact
    loaded = FaceIndex.load(path, pack=PACK, dim=DIM)
    queries = unit(20, seed=9)
    assert loaded.search(queries, k=30) == index.search(queries, k=30)
    assert np.array_equal(loaded.ids(), index.ids())
    assert loaded.meta == index.meta
    meta = read_meta(path)
    assert (meta.pack, meta.dim, meta.count, meta.max_id) == (PACK, DIM, 400, index.max_id)


def test_ann_index_save_load_round_trip(tmp_path: Path, ann_30k: FaceIndex, faces_30k: tuple) -> None:
    path = tmp_path / "ann.faceindex"
    ann_30k.save(path)
    loaded = FaceIndex.load(path, pack=PACK, dim=128, mode="ann")
    assert loaded.ann_params == ann_30k.ann_params is not None
    queries = faces_30k[2][:20]
    assert loaded.search(queries, k=50) == ann_30k.search(queries, k=50)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: _flip(p, 2), id="magic"),
        pytest.param(lambda p: _flip(p, 20), id="checksum-line"),
        pytest.param(lambda p: _flip(p, 110), id="header"),
        pytest.param(lambda p: _flip(p, p.stat().st_size // 2), id="payload"),
        pytest.param(lambda p: _flip(p, p.stat().st_size - 1), id="last-byte"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-100]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:30]), id="truncated-header"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + b"x"), id="trailing-garbage"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: p.unlink(), id="missing"),
    ],
)
def test_corrupt_index_file_is_detected(saved_exact: tuple[Path, FaceIndex], damage) -> None:
    path, _ = saved_exact
    damage(path)
    with pytest.raises(IndexCorruptError):
        FaceIndex.load(path, pack=PACK, dim=DIM)


@pytest.mark.parametrize(
    "expected",
    [
        {"pack": "other_pack", "dim": DIM},
        {"pack": PACK, "dim": 512},
        {"pack": PACK, "dim": DIM, "side": "reports"},
        {"pack": PACK, "dim": DIM, "mode": "ann"},
    ],
)
def test_foreign_pack_dim_side_or_mode_is_refused(saved_exact: tuple[Path, FaceIndex], expected: dict) -> None:
    path, _ = saved_exact
    with pytest.raises(IndexMismatchError):
        FaceIndex.load(path, **expected)


def test_atomic_save_leaves_no_temp_files_and_keeps_old_file_on_failure(saved_exact: tuple[Path, FaceIndex], monkeypatch: pytest.MonkeyPatch) -> None:
    path, index = saved_exact
    before = path.read_bytes()
    index.add(np.array([1]), unit(1, seed=7))
    index.save(path)  # overwrite
    assert os.listdir(path.parent) == [path.name]
    assert FaceIndex.load(path, pack=PACK, dim=DIM).agrees_with(index.ids())

    path.write_bytes(before)

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss_index.os, "fsync", failing_fsync)
    index.add(np.array([2]), unit(1, seed=8))
    with pytest.raises(OSError):
        index.save(path)
    assert os.listdir(path.parent) == [path.name]
    assert path.read_bytes() == before


# ---- ANN ---------------------------------------------------------------------------------
def test_ann_recall_at_50_against_exact_on_clustered_faces(ann_30k: FaceIndex, faces_30k: tuple) -> None:
    ids, vectors, queries = faces_30k
    exact = FaceIndex.build(PACK, 128, ids, vectors)
    assert ann_30k.ann_params is not None  # 30k > ANN_MIN_SIZE: the coarse index is in use
    assert recall(ann_30k.search(queries, k=50), exact.search(queries, k=50)) >= 0.95


def test_ann_recall_holds_when_probing_a_fraction_of_lists(faces_30k: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 30k the defaults probe every list; force pruning to test the shortlist + re-rank."""
    ids, vectors, queries = faces_30k
    monkeypatch.setattr(faiss_index, "ANN_MIN_SCAN", 9_000)
    ann = FaceIndex.build(PACK, 128, ids, vectors, mode="ann")
    assert ann.ann_params is not None and ann.ann_params.nprobe <= ann.ann_params.nlist // 3
    exact = FaceIndex.build(PACK, 128, ids, vectors)
    found = ann.search(queries, k=50)
    assert recall(found, exact.search(queries, k=50)) >= 0.95
    row_of = {int(face_id): row for row, face_id in enumerate(ids)}
    exact_scores = vectors[[row_of[i] for i, _ in found[0]]] @ queries[0]
    assert [s for _, s in found[0]] == pytest.approx(exact_scores.tolist(), abs=1e-5)  # re-ranked exactly


def test_remove_works_in_ann_mode(faces_30k: tuple) -> None:
    ids, vectors, queries = faces_30k
    ann = FaceIndex.build(PACK, 128, ids, vectors, mode="ann")
    targets = [face_id for face_id, _ in ann.search(queries[:5], k=3)[0]]
    assert ann.remove(np.array(targets)) == 3
    assert len(ann) == 30_000 - 3
    found = {face_id for row in ann.search(queries[:5], k=50) for face_id, _ in row}
    assert not found & set(targets)


def test_ann_index_trains_once_the_gallery_is_large_enough() -> None:
    index = FaceIndex.create(PACK, DIM, mode="ann")
    index.add(np.arange(15_000), unit(15_000))
    assert index.ann_params is None  # small: exact search
    index.add(np.arange(15_000, 25_000), unit(10_000, seed=1))
    assert index.ann_params is not None and index.ann_params.trained_on == 25_000
    x = unit(25_000)
    (row,) = index.search(x[123], k=1)
    assert row[0][0] == 123


def test_ann_coarse_index_is_retrained_after_the_gallery_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faiss_index, "ANN_MIN_SIZE", 1_000)
    index = FaceIndex.create(PACK, DIM, mode="ann")
    x = unit(5_000)
    index.add(np.arange(1_000), x[:1_000])
    assert index.ann_params is not None and index.ann_params.trained_on == 1_000
    index.add(np.arange(1_000, 2_000), x[1_000:2_000])
    assert index.ann_params.trained_on == 1_000  # grown 2x: vectors go into the existing lists
    index.add(np.arange(2_000, 5_000), x[2_000:])
    assert index.ann_params.trained_on == 5_000  # grown past 4x: re-trained on everything
    assert [row[0][0] for row in index.search(x[[10, 1_500, 4_999]], k=1)] == [10, 1_500, 4_999]
