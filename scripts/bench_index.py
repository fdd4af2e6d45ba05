"""Benchmark the face index: build time, per-query latency, recall and memory by gallery size.

Usage::

    python scripts/bench_index.py                      # full sweep: 10^4, 10^5, 10^6 faces
    python scripts/bench_index.py --sizes 10000,100000 --queries 100
    python scripts/bench_index.py --skip-search --skip-indexing      # the match section only
    python scripts/bench_index.py --skip-search --match-sizes 10000 --real-records 1000

The last line of stdout is one JSON object::

    {"search": [{"n", "mode", "build_s", "p50_ms", "p95_ms", "recall_at_50", "memory_mb",
                 "file_mb", "nlist", "nprobe"}, ...],
     "indexing": null,                # photos/s with 1 and 2 workers, once --archive exists
     "match": {                       # issue 12; see scripts/bench_match.py
        "synthetic": [{"records", "match_s", "records_per_s", "candidates", "true_pairs_in_queue",
                       "old_records_per_s", "new_records_per_s", "speedup", "speedup_cpu",
                       "old_is_sample", "old": {"sample", "sample_rule", "old_calibration_s", ...}, ...}],
        "real": {"archive", "photos", "index_s", "match_s", "total_s", "photos_per_s",
                 "match_share", "match_share_cpu", ...},
        "cohort_refresh": [{"records", "refresh_s", "cohort_lists"}, ...],
        "mirror_tta": {"off": {"photos_per_s"}, "on": {...}, "slowdown", "within_1_5x"}},
     "config": {"dim", "k", "queries", "threads", "seed"}}

Match section: the NEW matcher (``services.match_records``) runs on every record; the OLD one
(``scripts/legacy_matching.py``, a frozen copy of the pre-rewrite code) only on a fixed random
sample of the same records (``--old-sample``), in a copy of the same DATA_DIR, because on 10^4
records it would take hours: ``old_records_per_s`` and ``speedup`` compare per-record rates,
the old one measured on that sample (its one-off calibration left out), as the JSON says.
Wall-clock figures on a machine shared with other work move with its load (``machine``
gives the load average); the ``*_cpu`` figures (this process's CPU time) move much less.

Latency is one query per call (how a report search arrives), measured around
``FaceIndex.search`` including its Python result conversion. Recall@k is the share of the
exact index's top k that the index under test also returns (1.0 for exact by definition).
``memory_mb`` is the growth of the process's resident memory while the index was built
(approximate: the allocator may reuse freed pages); ``file_mb`` is the saved index's size,
which is the vectors, ids and codes held in memory, less FAISS's id hash map.

Synthetic faces ("real-like")
-----------------------------
Face embeddings are not uniform on the sphere, and uniform data would flatter or punish an
ANN index in ways real galleries do not. The generator therefore mimics their structure:

* **Identities** -- ``n/4`` identity centres drawn from a zero-mean Gaussian whose
  per-dimension standard deviation decays as ``exp(-j / (dim/6))`` (an anisotropic subspace
  of ~20 effective dimensions), randomly rotated so it is not axis-aligned, then normalised.
* **Photos** -- each face picks an identity uniformly (so ~4 photos per identity, Poisson),
  and is ``normalise(centre + noise)`` with isotropic Gaussian noise of norm ``r ~ U(0.5,
  1.2)``. Two photos of one identity then have cosine ~0.43-0.74 (5th-95th percentile),
  like a recogniser across pose, lighting and age; different identities ~0 +- 0.14.
* **Queries** -- fresh noisy photos of existing identities (a family's photo of a child
  already in the gallery), so each query's top 50 holds a few true mates and then the
  closest impostors: the hard part of the ranking for an ANN index.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_match, legacy_matching

from matcher.index import FaceIndex, Mode, set_faiss_threads

_CHUNK = 100_000


def _normalise(x: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def make_faces(n: int, dim: int = 128, queries: int = 200, seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``n`` gallery embeddings and ``queries`` query embeddings (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_ids = max(1, n // 4)
    spectrum = np.exp(-np.arange(dim) / (dim / 6.0)).astype(np.float32)
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    centres = _normalise((rng.standard_normal((n_ids, dim), dtype=np.float32) * spectrum) @ rotation)

    def photos(identity: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        radius = rng.uniform(0.5, 1.2, (identity.size, 1)).astype(np.float32)
        noise = rng.standard_normal((identity.size, dim), dtype=np.float32) * (radius / np.sqrt(dim))
        return _normalise(centres[identity] + noise)

    identity = rng.integers(0, n_ids, size=n)
    gallery = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        gallery[start : start + _CHUNK] = photos(identity[start : start + _CHUNK])
    return gallery, photos(rng.choice(identity, size=queries))


def _rss_mb() -> float:
    """Resident set size now (Linux /proc; 0 elsewhere, where memory is then not reported)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def _measure(mode: Mode, ids: np.ndarray, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[dict[str, Any], list[list[int]]]:
    gc.collect()
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = FaceIndex.build("bench", gallery.shape[1], ids, gallery, mode=mode)
    build_s = time.perf_counter() - t0
    memory_mb = _rss_mb() - rss0
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "bench.faceindex")
        file_mb = (Path(tmp) / "bench.faceindex").stat().st_size / 2**20
    for q in queries[:5]:  # warm caches and OpenMP threads
        index.search(q[None, :], k)
    latencies, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = index.search(q[None, :], k)[0]
        latencies.append(time.perf_counter() - t0)
        found.append([face_id for face_id, _ in hits])
    params = index.ann_params
    row = {
        "n": int(gallery.shape[0]),
        "mode": mode,
        "build_s": round(build_s, 3),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 3),
        "p95_ms": round(float(np.percentile(latencies, 95)) * 1e3, 3),
        "memory_mb": round(memory_mb, 1),
        "file_mb": round(file_mb, 1),
        "nlist": params.nlist if params else None,
        "nprobe": params.nprobe if params else None,
    }
    del index
    return row, found


def sweep(
    dim: int = 128,
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
    k: int = 50,
    queries: int = 200,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Exact and ANN rows for each gallery size; ANN recall is measured against exact."""
    rows = []
    for n in sizes:
        gallery, query_vecs = make_faces(n, dim, queries, seed)
        # Sparse, non-contiguous ids like real database face ids.
        ids = np.arange(n, dtype=np.int64) * 3 + 7
        truth: list[list[int]] = []
        for mode in ("exact", "ann"):
            row, found = _measure(mode, ids, gallery, query_vecs, k)
            if mode == "exact":
                truth = found
            recall = np.mean([len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth, strict=True)])
            row[f"recall_at_{k}"] = round(float(recall), 4)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        del gallery, query_vecs
    return rows


# ---- indexing section: photos/s through the embedding pipeline ---------------------------
def bench_indexing(archive: Path) -> list[dict[str, Any]]:
    """``matcher index`` over ARCHIVE (a folder per record) into a fresh DATA_DIR, with 1
    and 2 embedding processes; matching is left out (it is not part of indexing)."""
    import tempfile

    from matcher.container import Services
    from matcher.ingest.archive import scan_folder
    from matcher.ingest.indexer import ArchiveIndexer
    from matcher.settings import Settings

    items = scan_folder(archive)
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            services = Services(Settings(data_dir=Path(tmp)))
            services.pipeline()  # model conversion happens once, outside the timing
            summary = ArchiveIndexer(services, "child", workers=workers).run(items)
            rows.append(
                {
                    "workers": workers,
                    "photos": summary.photos,
                    "faces": summary.faces,
                    "seconds": summary.seconds,
                    "photos_per_s": round(summary.photos / summary.seconds, 2),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _indexing_section(archive: Path | None) -> list[dict[str, Any]] | None:
    """--archive DIR, or else the shared labelled photos arranged as a folder per identity
    (symlinks in a temp dir), or None when neither exists."""
    if archive is not None:
        return bench_indexing(archive)
    import csv

    faces = Path(os.environ.get("MATCHER_TEST_DATA") or Path(__file__).resolve().parent.parent.parent / "shared" / "data") / "faces"
    if not faces.is_dir():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for manifest in sorted(faces.glob("*/manifest.csv")):
            with manifest.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    folder = Path(tmp) / row["identity"]
                    folder.mkdir(exist_ok=True)
                    (folder / Path(row["path"]).name).symlink_to(manifest.parent / row["path"])
        return bench_indexing(Path(tmp))


# -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated gallery sizes")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--archive", type=Path, default=None, help="photo archive for the indexing section")
    parser.add_argument("--skip-search", action="store_true", help="leave out the search section")
    parser.add_argument("--skip-indexing", action="store_true", help="leave out the indexing section")
    match = parser.add_argument_group("match section (issue 12; scripts/bench_match.py)")
    match.add_argument("--skip-match", action="store_true", help="leave out the match section")
    match.add_argument("--match-sizes", default="10000", help="synthetic gallery sizes (records) for new vs old matching")
    match.add_argument("--reports-share", type=float, default=0.1, help="share of the synthetic records that are reports")
    match.add_argument("--mated-share", type=float, default=0.3, help="share of the reports that are a second photo of a child")
    match.add_argument("--old-sample", type=int, default=300, help="records the old matcher runs on (0: skip it)")
    match.add_argument("--real-records", type=int, default=1000, help="child folders of the real-photo archive (0: skip)")
    match.add_argument("--refresh-sizes", default="10000,100000", help="gallery sizes for the full cohort refresh")
    match.add_argument("--tta-photos", type=int, default=300, help="photos imported with mirror TTA off and on (0: skip)")
    match.add_argument("--workers", type=int, default=1, help="embedding processes of the real-photo imports (matcher index's default: 1)")
    match.add_argument(
        "--profile", action="store_true", help="cProfile the new matcher (top functions to stderr); its timings are then inflated: diagnosis only"
    )
    args = parser.parse_args(argv)
    set_faiss_threads(args.threads)
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    result = {
        "search": None if args.skip_search else sweep(args.dim, sizes, args.k, args.queries, args.seed),
        "indexing": None if args.skip_indexing else _indexing_section(args.archive),
        "match": None if args.skip_match else _match_section(args),
        "config": {"dim": args.dim, "k": args.k, "queries": args.queries, "threads": args.threads, "seed": args.seed},
    }
    print(json.dumps(result))


def _match_section(args: argparse.Namespace) -> dict[str, Any]:
    from bench_match import match_section

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    return match_section(
        ints(args.match_sizes),
        args.reports_share,
        args.mated_share,
        args.old_sample,
        args.real_records,
        ints(args.refresh_sizes),
        args.tta_photos,
        args.workers,
        args.seed,
        args.profile,
    )


if __name__ == "__main__":
    main()
