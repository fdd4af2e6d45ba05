"""The match section of ``scripts/bench_index.py`` (issue 12): how long matching takes, on
its own and as a share of ``matcher index``, against the pre-rewrite matcher.

* ``synthetic_case`` -- children and reports of distinct people with synthetic template
  embeddings (``matcher.evaluation.synthetic``: one face each, cosines drawn like the
  pack's impostors; some reports get a second photo of a child, cosine ~``mate_cosine``),
  stored as real rows and index entries. ``services.match_records`` on all of them is
  timed (``match_s``: includes the first chunk's full cohort refresh and calibration).
  The **old** matcher (``scripts/legacy_matching.py``, a frozen copy of the code before the
  rewrite) would take hours on 10^4 records, so it runs on a fixed random SAMPLE of records
  (``numpy`` ``default_rng(seed)``, without replacement, from all stored records, matched in
  id order in one transaction like the old ``match``) in a *copy* of the same DATA_DIR taken
  before the new matcher ran; its per-record rate is extrapolated. Its one-off calibration
  is timed apart and left OUT of the old rate (which flatters the old code, so the quoted
  speed-up is conservative).
* ``cohort_refresh`` -- ``review.upkeep.refresh_cohorts`` (full) on synthetic galleries.
* ``bench_photos.real_case`` -- a folder archive of >= 1,000 children made from the shared
  photos, imported like ``matcher index`` does, the matching that ends it timed on its own
  (``match_share``); ``bench_photos.tta_case`` -- photos/s with ``MATCHER_MIRROR_TTA`` off/on.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matcher.container import Services
from matcher.evaluation.synthetic import impostor_vectors, index_records, mate_of, store_records
from matcher.settings import Settings
from matcher.store.tables import Candidate, Record

_STORE_BATCH = 10_000  # records per transaction while building a synthetic gallery


def _log(row: dict[str, Any]) -> None:
    print(json.dumps(row), file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    """CPUs and load average: timings on a shared machine are only comparable within a run."""
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, **overrides)


@contextlib.contextmanager
def _profiled(enabled: bool, label: str, top: int = 25):
    """cProfile around the block; the ``top`` functions by cumulative time go to stderr."""
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
        print(f"---- profile: {label} ----\n{out.getvalue()}", file=sys.stderr, flush=True)


# ---- synthetic galleries ------------------------------------------------------------------
def build_synthetic(services: Services, children: int, reports: int, mated: int, mate_cosine: float, seed: int) -> dict[str, Any]:
    """Store ``children`` + ``reports`` one-face records of distinct people; the first
    ``mated`` reports are a second photo of a random child. Returns ids and the true pairs."""
    info = services.pack_info()
    mean, std = info.impostor_prior
    rng = np.random.default_rng(seed)
    vectors = impostor_vectors(children + reports, info.embedding_dim, mean, std, seed=seed)
    kid_vecs, rep_vecs = vectors[:children], vectors[children:].copy()
    mated = min(mated, reports, children)
    truth_kid = rng.choice(children, size=mated, replace=False)
    if mated:
        rep_vecs[:mated] = mate_of(kid_vecs[truth_kid], mate_cosine, seed=seed + 1)
    stored: dict[str, list] = {"child": [], "report": []}
    for side, vecs, prefix in (("child", kid_vecs, "C"), ("report", rep_vecs, "R")):
        for start in range(0, len(vecs), _STORE_BATCH):
            with services.sessions.begin() as session:
                stored[side] += store_records(session, side, vecs[start : start + _STORE_BATCH], info.name, prefix, start=start, birth_year=2012)
        index_records(services, side, info.name, info.embedding_dim, stored[side])
    kid_ids = [r for r, _, _ in stored["child"]]
    rep_ids = [r for r, _, _ in stored["report"]]
    truth = {rep_ids[i]: kid_ids[int(k)] for i, k in enumerate(truth_kid)}
    return {"children": kid_ids, "reports": rep_ids, "truth": truth}


def _candidate_stats(services: Services, truth: dict[int, int]) -> dict[str, Any]:
    with services.sessions() as session:
        rows = session.query(Candidate.kind, Candidate.status, Candidate.report_id, Candidate.child_id).all()
        pending = session.query(Record).filter(Record.needs_match.is_(True)).count()
    kinds = Counter(f"{k}_{s}" for k, s, _, _ in rows)
    found = {(r, c) for k, s, r, c in rows if k == "match" and s == "open"}
    return {
        "candidates": len(rows),
        "by_kind_status": dict(sorted(kinds.items())),
        "true_pairs": len(truth),
        "true_pairs_in_queue": sum(1 for r, c in truth.items() if (r, c) in found),
        "records_left_pending": pending,
    }


def _old_sample(data_dir: Path, ids: list[int], children: set[int], sample: int, seed: int) -> dict[str, Any]:
    """The frozen old matcher on a fixed random sample of ``ids``, in the DATA_DIR copy
    ``data_dir``; its transaction is rolled back (the copy is thrown away anyway)."""
    import legacy_matching

    services = Services(_settings(data_dir))
    for side in ("child", "report"):
        services.index(side)  # load the index files outside the timing
    chosen = sorted(int(i) for i in np.random.default_rng(seed).choice(np.array(ids), size=min(sample, len(ids)), replace=False))
    matcher = legacy_matching.Matcher(services)
    with services.sessions() as session:
        t0 = time.perf_counter()
        legacy_matching.current_calibration(session, matcher.pack, matcher.dim, matcher.prior)
        calibration_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        touched = matcher.match(session, chosen)
        match_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        session.rollback()
    services.engine.dispose()
    kinds = Counter(c.kind for c in touched)
    return {
        "sample": len(chosen),
        "sample_rule": f"numpy default_rng({seed}).choice(all {len(ids)} record ids, {len(chosen)}, replace=False), matched in id order in one transaction (like the old match), in a copy of the DATA_DIR taken before the new matcher ran",
        "sample_children": sum(1 for i in chosen if i in children),
        "old_calibration_s": round(calibration_s, 3),
        "old_sample_match_s": round(match_s, 3),
        "old_sample_candidates": dict(kinds),
        "old_records_per_s": round(len(chosen) / match_s, 2),
        "old_sample_cpu_s": round(cpu_s, 3),
        "old_records_per_cpu_s": round(len(chosen) / cpu_s, 2),
    }


def synthetic_case(children: int, reports: int, mated: int, old_sample: int, seed: int, mate_cosine: float = 0.5, profile: bool = False) -> dict[str, Any]:
    """New matcher on all records vs the old one on a sample of the same data (see module doc)."""
    with tempfile.TemporaryDirectory() as tmp:
        data, copy = Path(tmp) / "new", Path(tmp) / "old"
        services = Services(_settings(data))
        t0 = time.perf_counter()
        built = build_synthetic(services, children, reports, mated, mate_cosine, seed)
        build_s = time.perf_counter() - t0
        all_ids = built["children"] + built["reports"]
        old = None
        if old_sample > 0:
            services.engine.dispose()  # SQLite (WAL): everything is checkpointed before the copy
            shutil.copytree(data, copy)
            old = _old_sample(copy, all_ids, set(built["children"]), old_sample, seed)
            shutil.rmtree(copy)
            _log({"old_sample": old})
        with _profiled(profile, f"new matcher, {len(all_ids)} synthetic records"):
            t0, c0 = time.perf_counter(), time.process_time()
            touched = services.match_records(all_ids)
            match_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        row: dict[str, Any] = {
            "records": len(all_ids),
            "children": children,
            "reports": reports,
            "mate_cosine": mate_cosine,
            "build_s": round(build_s, 2),
            "match_s": round(match_s, 3),
            "records_per_s": round(len(all_ids) / match_s, 2),
            "new_records_per_s": round(len(all_ids) / match_s, 2),
            "match_cpu_s": round(cpu_s, 3),  # this process's CPU time (all threads): less sensitive to other load
            "new_records_per_cpu_s": round(len(all_ids) / cpu_s, 2),
            "candidates_touched": touched,
            "match_chunk": services.settings.match_chunk,
            "profiled": profile,
            **_candidate_stats(services, built["truth"]),
        }
        if old is not None:
            row["old"] = old
            row["old_records_per_s"] = old["old_records_per_s"]
            row["speedup"] = round(row["new_records_per_s"] / old["old_records_per_s"], 1)
            row["speedup_cpu"] = round(row["new_records_per_cpu_s"] / old["old_records_per_cpu_s"], 1)
            row["old_is_sample"] = (
                f"old_records_per_s is measured on a sample of {old['sample']} of the {len(all_ids)} records (same data, "
                "copy of the same DATA_DIR), calibration excluded; the new figure is the whole run, cohort refresh and calibration included. "
                "The two ran one after the other on a machine others may share: compare speedup (wall) with speedup_cpu (process CPU time)"
            )
            row["old_extrapolated_s"] = round(len(all_ids) / old["old_records_per_s"] + old["old_calibration_s"], 1)
        services.engine.dispose()
        row["machine_after"] = _machine()
        _log({"synthetic": {k: v for k, v in row.items() if k != "old"}})
        return row


# ---- cohort refresh -----------------------------------------------------------------------
def cohort_refresh(sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """Full ``refresh_cohorts`` on synthetic galleries (90 % children, 10 % reports)."""
    from matcher.review.normalization import Cohort, CohortSizes
    from matcher.review.upkeep import refresh_cohorts

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            services = Services(_settings(Path(tmp)))
            info = services.pack_info()
            reports = n // 10
            t0 = time.perf_counter()
            build_synthetic(services, n - reports, reports, 0, 0.5, seed)
            build_s = time.perf_counter() - t0
            sizes = CohortSizes.from_settings(services.settings)
            with services.sessions.begin() as session:
                t0 = time.perf_counter()
                written = refresh_cohorts(session, services, info.name, info.embedding_dim, sizes, Cohort(*info.impostor_prior, 0))
                refresh_s = time.perf_counter() - t0
            rows.append(
                {"records": n, "build_s": round(build_s, 1), "refresh_s": round(refresh_s, 2), "cohort_lists": written, "k": sizes.k, "rank_k": sizes.rank_k}
            )
            services.engine.dispose()
            _log({"cohort_refresh": rows[-1]})
    return rows


def match_section(
    sizes: list[int],
    reports_share: float,
    mated_share: float,
    old_sample: int,
    real_records: int,
    refresh_sizes: list[int],
    tta_photos: int,
    workers: int,
    seed: int,
    profile: bool = False,
) -> dict[str, Any]:
    """Everything above, as one JSON-ready dict (a part is None when it was skipped or the
    shared photos are absent)."""
    out: dict[str, Any] = {"synthetic": [], "real": None, "cohort_refresh": None, "mirror_tta": None, "machine": _machine()}
    for n in sizes:
        reports = round(n * reports_share)
        out["synthetic"].append(synthetic_case(n - reports, reports, round(reports * mated_share), old_sample, seed, profile=profile))
    if refresh_sizes:
        out["cohort_refresh"] = cohort_refresh(refresh_sizes, seed)
    from bench_photos import build_real_archive, real_case, reports_folder, shared_photos, subset, tta_case

    photos = shared_photos()
    if (real_records or tta_photos) and not photos:
        out["real"] = out["mirror_tta"] = "skipped: shared photos not found (MATCHER_TEST_DATA or ../shared/data)"
        return out
    if real_records or tta_photos:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "archive"
            t0 = time.perf_counter()
            made = build_real_archive(archive, photos, max(real_records, 1), seed)
            _log({"archive_built": made, "seconds": round(time.perf_counter() - t0, 1)})
            if real_records:
                out["real"] = {"archive": made, **real_case(archive, reports_folder(Path(tmp) / "reports", photos), workers, profile)}
            if tta_photos:
                part = subset(archive, Path(tmp) / "subset", tta_photos) if tta_photos < made["photos"] else archive
                out["mirror_tta"] = tta_case(part, workers)
    return out
