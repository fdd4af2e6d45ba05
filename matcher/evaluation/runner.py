"""Accuracy evaluation (``matcher eval``): labelled gallery and probe photos -> report + plots.

Two halves:

* **Pure metric functions** over score arrays (no models, no files): closed-set CMC from a
  probes x gallery-identities score matrix, verification TAR at FAR from genuine/impostor
  scores, open-set DIR at FPIR, age-gap buckets.
* **A runner** that embeds both CSVs with a model pack (largest face per photo; embeddings
  cached by file sha256 under ``DATA_DIR/eval-cache/<pack>/``), builds a ``FaceIndex`` of
  the gallery faces, searches it with the real search code, fuses the face scores of each
  gallery identity with the real ``review.fusion.fuse``, and writes ``report.json``,
  ``report.md`` and PNG plots.

Conventions (stated once, used everywhere):

* A score of ``-inf`` means "no comparison possible": a probe with no face (failure to
  enrol) scores ``-inf`` against every identity, so it is a **miss at every rank** and a
  rejected genuine pair; it is never dropped from a denominator. A gallery identity whose
  photos all failed to enrol scores ``-inf`` for every probe.
* Rank of the true identity = 1 + number of *other* identities scoring **at least** as high
  (ties count against the probe: pessimistic, deterministic).
* Thresholds at a target rate ``r`` over ``N`` negative scores: ``floor(r * N)`` false
  accepts are allowed; the threshold is the ``floor(r*N)+1``-th highest negative score and
  a score is accepted when it is **strictly above** it. When ``r * N < 1`` the rate cannot be
  resolved by the data; the figure is then the (stricter) zero-false-accept one and the
  report marks it ``resolved: false``.
* Mated probe = its identity appears in the gallery CSV (even if none of its gallery photos
  had a face). Non-mated probes (identity absent from the gallery) drive FPIR.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RANKS = (1, 5, 10, 20, 50)
FARS = (1e-2, 1e-3, 1e-4)
FPIRS = (1e-2, 1e-3)
AGE_BUCKETS = (("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11+", 11, math.inf))


# ---------------------------------------------------------------------------------------
# Pure metrics
# ---------------------------------------------------------------------------------------
def ranks_of_truth(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank (1-based) of each probe's true column; ``inf`` when unmated or truth is ``-inf``.

    ``scores``: (probes, identities); ``truth``: column index per probe, -1 when not mated.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    out = np.full(truth.shape[0], np.inf)
    for i, t in enumerate(truth):
        if t < 0:
            continue
        s = scores[i, t]
        if not np.isfinite(s):
            continue
        others = np.delete(scores[i], t)
        out[i] = 1 + int(np.count_nonzero(others >= s))
    return out


def cmc(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """CMC curve: share of (mated) probes whose rank <= r, for r = 1..max_rank."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return np.full(max_rank, np.nan)
    return np.array([float(np.mean(ranks <= r)) for r in range(1, max_rank + 1)])


def cmc_at(ranks: np.ndarray, at: tuple[int, ...] = RANKS) -> dict[str, float | None]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return {f"rank{r}": None for r in at}
    return {f"rank{r}": float(np.mean(ranks <= r)) for r in at}


def threshold_at_rate(negatives: np.ndarray, rate: float) -> tuple[float, bool]:
    """(threshold, resolved): accept scores strictly above it; see module docstring."""
    neg = np.sort(np.asarray(negatives, dtype=np.float64))[::-1]
    if neg.size == 0:
        return -np.inf, False
    allowed = int(math.floor(rate * neg.size + 1e-9))
    if allowed >= neg.size:
        return -np.inf, True
    return float(neg[allowed]), allowed >= 1


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> dict:
    """Verification: share of genuine scores accepted at the threshold giving ``far``."""
    gen = np.asarray(genuine, dtype=np.float64)
    thr, resolved = threshold_at_rate(impostor, far)
    imp = np.asarray(impostor, dtype=np.float64)
    return {
        "tar": float(np.mean(gen > thr)) if gen.size else None,
        "threshold": None if not np.isfinite(thr) else thr,
        "far_measured": float(np.mean(imp > thr)) if imp.size else None,
        "resolved": resolved,
    }


def dir_at_fpir(ranks: np.ndarray, mated_scores: np.ndarray, nonmated_max: np.ndarray, fpir: float) -> dict:
    """Open set: share of mated probes found at rank 1 **and** above the threshold where
    ``fpir`` of non-mated searches raise an alarm (their best score)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    mated = np.asarray(mated_scores, dtype=np.float64)
    nm = np.asarray(nonmated_max, dtype=np.float64)
    if nm.size == 0:
        return {"dir": None, "threshold": None, "fpir_measured": None, "resolved": False}
    thr, resolved = threshold_at_rate(nm, fpir)
    hit = (ranks <= 1) & (mated > thr)
    return {
        "dir": float(np.mean(hit)) if ranks.size else None,
        "threshold": None if not np.isfinite(thr) else thr,
        "fpir_measured": float(np.mean(nm > thr)),
        "resolved": resolved,
    }


def age_bucket(gap: float | None) -> str | None:
    if gap is None or not np.isfinite(gap):
        return None
    for name, lo, hi in AGE_BUCKETS:
        if lo <= round(gap) <= hi:
            return name
    return None


def genuine_impostor(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine = each mated probe vs its identity; impostor = every probe vs every other
    identity (finite scores only: an identity without faces is no comparison)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    genuine, impostor = [], []
    for i, t in enumerate(truth):
        if t >= 0:
            genuine.append(scores[i, t])
        row = scores[i] if t < 0 else np.delete(scores[i], t)
        impostor.append(row[np.isfinite(row)])
    imp = np.concatenate(impostor) if impostor else np.zeros(0)
    return np.asarray(genuine, dtype=np.float64), imp


def summarize(
    scores: np.ndarray,
    truth: np.ndarray,
    probe_has_face: np.ndarray,
    gaps: np.ndarray | None = None,
) -> dict:
    """All figures from a probes x identities score matrix (``-inf`` = no comparison).

    Rows of probes with no face must already be ``-inf``; ``probe_has_face`` is only counted.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    mated = truth >= 0
    ranks_all = ranks_of_truth(scores, truth)
    ranks = ranks_all[mated]
    genuine, impostor = genuine_impostor(scores, truth)
    nonmated_max = (
        scores[~mated].max(axis=1) if (~mated).any() and scores.shape[1] else np.full(int((~mated).sum()), -np.inf)
    )
    # Non-mated FTE probes score -inf everywhere: they never raise a false alarm (counted).
    mated_scores = np.array([scores[i, t] for i, t in enumerate(truth) if t >= 0], dtype=np.float64)
    out: dict = {
        "cmc": cmc_at(ranks),
        "dir_at_fpir": {f"{f:g}": dir_at_fpir(ranks, mated_scores, nonmated_max, f) for f in FPIRS},
        "tar_at_far": {f"{f:g}": tar_at_far(genuine, impostor, f) for f in FARS},
        "counts": {
            "probes": int(truth.size),
            "mated_probes": int(mated.sum()),
            "nonmated_probes": int((~mated).sum()),
            "gallery_identities": int(scores.shape[1]),
            "genuine_scores": int(genuine.size),
            "impostor_scores": int(impostor.size),
            "probes_without_face": int((~np.asarray(probe_has_face, dtype=bool)).sum()),
        },
    }
    if gaps is not None:
        gaps = np.asarray(gaps, dtype=np.float64)
        buckets: dict = {}
        for name, _, _ in AGE_BUCKETS:
            sel = np.array([mated[i] and age_bucket(gaps[i]) == name for i in range(truth.size)], dtype=bool)
            if not sel.any():
                continue
            sub_ranks = ranks_all[sel]
            sub_gen = np.array([scores[i, truth[i]] for i in np.flatnonzero(sel)], dtype=np.float64)
            buckets[name] = {
                "probes": int(sel.sum()),
                "cmc": cmc_at(sub_ranks),
                "dir_at_fpir": {f"{f:g}": dir_at_fpir(sub_ranks, sub_gen, nonmated_max, f) for f in FPIRS},
                "tar_at_far": {f"{f:g}": tar_at_far(sub_gen, impostor, f) for f in FARS},
            }
        out["by_age_gap"] = buckets
    out["_curves"] = {"ranks": ranks, "genuine": genuine, "impostor": impostor}
    return out


# ---------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------
@dataclass
class Photo:
    path: Path
    identity: str
    age: float | None = None
    date: str | None = None
    embedding: np.ndarray | None = None  # None: no face (failure to enrol)
    error: str | None = None  # why there is no embedding


@dataclass
class EmbedStats:
    seconds: float = 0.0
    cache_hits: int = 0
    computed: int = 0
    extra: dict = field(default_factory=dict)


def read_csv(path: Path) -> list[Photo]:
    """``path,identity`` + optional ``age,date``; relative paths are relative to the CSV."""
    path = Path(path)
    photos = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "identity"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            p = Path(row["path"])
            if not p.is_absolute():
                p = path.parent / p
            age_text = (row.get("age") or "").strip()
            photos.append(
                Photo(p, row["identity"].strip(), float(age_text) if age_text else None, (row.get("date") or None))
            )
    return photos


def embed_photos(services, pack: str, photos: list[Photo]) -> EmbedStats:
    """Largest face's embedding per photo, cached by file sha256 (``.npy``; an empty array
    records "no face"). Undecodable photos are failures to enrol with the reason kept."""
    from matcher.errors import MatcherError
    from matcher.imaging import decode_image

    cache = services.settings.data_dir / "eval-cache" / pack
    cache.mkdir(parents=True, exist_ok=True)
    pipeline = None
    stats = EmbedStats()
    start = time.perf_counter()
    for photo in photos:
        data = photo.path.read_bytes()  # a missing file is a CSV mistake: fail loudly
        digest = hashlib.sha256(data).hexdigest()
        cached = cache / f"{digest}.npy"
        if cached.is_file():
            vec = np.load(cached)
            stats.cache_hits += 1
        else:
            if pipeline is None:
                pipeline = services.pipeline(pack)
            try:
                faces = pipeline.analyze_one(decode_image(data, services.limits).bgr)
            except MatcherError as exc:
                if exc.status >= 500:
                    raise
                photo.error = exc.message
                continue  # not cached: the limits may change
            vec = faces[0].embedding.astype(np.float32) if faces else np.zeros(0, np.float32)
            tmp = cached.with_suffix(".tmp.npy")
            np.save(tmp, vec)
            tmp.replace(cached)
            stats.computed += 1
        if vec.size:
            photo.embedding = vec
        else:
            photo.error = "no face found"
    stats.seconds = time.perf_counter() - start
    return stats


def score_matrix(
    gallery: list[Photo], probes: list[Photo], identities: list[str], pack: str, dim: int, rule: str, threshold: float
) -> np.ndarray:
    """Probes x identities fused scores via the real FaceIndex search and fusion code."""
    from matcher.index.faiss_index import FaceIndex
    from matcher.review.fusion import fuse

    col = {name: j for j, name in enumerate(identities)}
    faces = [(i, g) for i, g in enumerate(gallery) if g.embedding is not None]
    scores = np.full((len(probes), len(identities)), -np.inf)
    if not faces:
        return scores
    ids = np.array([i for i, _ in faces], dtype=np.int64)
    index = FaceIndex.build(pack, dim, ids, np.stack([g.embedding for _, g in faces]), side="eval")
    rows = [i for i, p in enumerate(probes) if p.embedding is not None]
    if not rows:
        return scores
    hits = index.search(np.stack([probes[i].embedding for i in rows]), k=len(faces))
    for r, row_hits in zip(rows, hits, strict=True):
        per_identity: dict[int, list[float]] = {}
        for face_id, score in row_hits:
            per_identity.setdefault(col[gallery[face_id].identity], []).append(score)
        for j, sims in per_identity.items():
            scores[r, j] = fuse(np.array([sims]), rule, threshold).score
    return scores


def age_gaps(gallery: list[Photo], probes: list[Photo]) -> np.ndarray | None:
    """Per probe: smallest |age difference| to a gallery photo of its identity (both aged)."""
    if not any(p.age is not None for p in probes) or not any(g.age is not None for g in gallery):
        return None
    ages: dict[str, list[float]] = {}
    for g in gallery:
        if g.age is not None:
            ages.setdefault(g.identity, []).append(g.age)
    out = np.full(len(probes), np.nan)
    for i, p in enumerate(probes):
        if p.age is not None and p.identity in ages:
            out[i] = min(abs(p.age - a) for a in ages[p.identity])
    return out


def evaluate(services, gallery_csv: Path, probes_csv: Path, pack: str, rules: tuple[str, ...] = ("best",)) -> list[dict]:
    """One result dict per fusion rule (embeddings computed once)."""
    t0 = time.perf_counter()
    info = services.pack_info(pack)
    gallery, probes = read_csv(gallery_csv), read_csv(probes_csv)
    g_stats = embed_photos(services, pack, gallery)
    p_stats = embed_photos(services, pack, probes)
    identities = sorted({g.identity for g in gallery})
    col = {name: j for j, name in enumerate(identities)}
    truth = np.array([col.get(p.identity, -1) for p in probes], dtype=np.int64)
    has_face = np.array([p.embedding is not None for p in probes], dtype=bool)
    gaps = age_gaps(gallery, probes)
    results = []
    for rule in rules:
        t1 = time.perf_counter()
        scores = score_matrix(gallery, probes, identities, pack, info.embedding_dim, rule, info.same_person_threshold)
        result = summarize(scores, truth, has_face, gaps)
        search_s = time.perf_counter() - t1
        fte_g = [{"path": str(g.path), "identity": g.identity, "reason": g.error} for g in gallery if g.embedding is None]
        fte_p = [{"path": str(p.path), "identity": p.identity, "reason": p.error} for p in probes if p.embedding is None]
        empty_ids = sorted({g.identity for g in gallery} - {g.identity for g in gallery if g.embedding is not None})
        result.update(
            pack=pack,
            fusion=rule,
            same_person_threshold=info.same_person_threshold,
            gallery_csv=str(gallery_csv),
            probes_csv=str(probes_csv),
            failures_to_enrol={
                "probes": len(fte_p),
                "gallery": len(fte_g),
                "probe_photos": fte_p,
                "gallery_photos": fte_g,
                "gallery_identities_without_face": empty_ids,
            },
            timing_s={
                "embed_gallery": round(g_stats.seconds, 3),
                "embed_probes": round(p_stats.seconds, 3),
                "search_and_fuse": round(search_s, 3),
                "total": round(time.perf_counter() - t0, 3),
                "cache_hits": g_stats.cache_hits + p_stats.cache_hits,
                "embedded": g_stats.computed + p_stats.computed,
            },
        )
        result["counts"]["gallery_photos"] = len(gallery)
        result["counts"]["gallery_faces"] = int(sum(g.embedding is not None for g in gallery))
        result["_curves"]["scores"] = scores
        results.append(result)
    return results


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def compare_row(result: dict) -> dict:
    return {
        "pack": result["pack"],
        "fusion": result["fusion"],
        **{k: v for k, v in result["cmc"].items()},
        "dir_at_fpir_0.01": result["dir_at_fpir"]["0.01"]["dir"],
        "tar_at_far_0.001": result["tar_at_far"]["0.001"]["tar"],
        "failures_to_enrol": result["failures_to_enrol"]["probes"] + result["failures_to_enrol"]["gallery"],
        "seconds": result["timing_s"]["total"],
    }


def compare_table(rows: list[dict]) -> str:
    head = "| pack | fusion | rank-1 | rank-5 | rank-10 | rank-20 | rank-50 | DIR@FPIR 1% | TAR@FAR 1e-3 | FTE | s |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['fusion']} | {_pct(r['rank1'])} | {_pct(r['rank5'])} | {_pct(r['rank10'])} | "
            f"{_pct(r['rank20'])} | {_pct(r['rank50'])} | {_pct(r['dir_at_fpir_0.01'])} | "
            f"{_pct(r['tar_at_far_0.001'])} | {r['failures_to_enrol']} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def write_plots(result: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = result["_curves"]
    n_ids = max(1, result["counts"]["gallery_identities"])
    written = []
    title = f"{result['pack']} / {result['fusion']}"

    fig, ax = plt.subplots(figsize=(6, 4))
    curve = cmc(curves["ranks"], n_ids)
    ax.plot(np.arange(1, n_ids + 1), curve, marker=".")
    ax.set(xlabel="rank", ylabel="identification rate", title=f"CMC ({title})", ylim=(0, 1.02), xscale="log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "cmc.png", dpi=100)
    plt.close(fig)
    written.append("cmc.png")

    gen, imp = curves["genuine"], curves["impostor"]
    fig, ax = plt.subplots(figsize=(6, 4))
    if imp.size and gen.size:
        thr = np.unique(np.concatenate([imp, gen[np.isfinite(gen)]]))[::-1]
        far = np.array([np.mean(imp > t) for t in thr])
        frr = np.array([np.mean(~(gen > t)) for t in thr])
        floor = 0.5 / imp.size
        ax.plot(np.maximum(far, floor), frr, drawstyle="steps-post")
    ax.set(xscale="log", xlabel="false accept rate (impostor pairs)", ylabel="false reject rate", title=f"DET ({title})")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "det.png", dpi=100)
    plt.close(fig)
    written.append("det.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-0.4, 1.0, 57)
    if imp.size:
        ax.hist(imp, bins=bins, density=True, alpha=0.5, label=f"impostor (n={imp.size})")
    g = gen[np.isfinite(gen)]
    if g.size:
        ax.hist(g, bins=bins, density=True, alpha=0.5, label=f"genuine (n={g.size})")
    ax.axvline(result["same_person_threshold"], color="k", ls="--", lw=1, label="pack same-person hint")
    ax.set(xlabel="fused cosine score", ylabel="density", title=f"Scores ({title})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scores_hist.png", dpi=100)
    plt.close(fig)
    written.append("scores_hist.png")
    return written


def report_markdown(result: dict) -> str:
    c, fte, t = result["counts"], result["failures_to_enrol"], result["timing_s"]
    lines = [
        f"# matcher eval: {result['pack']} / fusion {result['fusion']}",
        "",
        f"Gallery `{result['gallery_csv']}`: {c['gallery_photos']} photos, {c['gallery_faces']} with a face, "
        f"{c['gallery_identities']} identities. Probes `{result['probes_csv']}`: {c['probes']} "
        f"({c['mated_probes']} mated, {c['nonmated_probes']} non-mated).",
        "",
        "## Closed-set identification (CMC, mated probes; no-face probes count as misses)",
        "",
        "| rank-1 | rank-5 | rank-10 | rank-20 | rank-50 |",
        "|---|---|---|---|---|",
        "| " + " | ".join(_pct(result["cmc"][f"rank{r}"]) for r in RANKS) + " |",
        "",
        "## Open-set (DIR at FPIR; non-mated probes set the threshold)",
        "",
        "| FPIR | DIR | threshold | resolved by data |",
        "|---|---|---|---|",
    ]
    for k, v in result["dir_at_fpir"].items():
        thr = "n/a" if v["threshold"] is None else f"{v['threshold']:.3f}"
        lines.append(f"| {k} | {_pct(v['dir'])} | {thr} | {'yes' if v['resolved'] else 'no'} |")
    lines += [
        "",
        f"## Verification (TAR at FAR; {c['genuine_scores']} genuine, {c['impostor_scores']} impostor probe-identity pairs)",
        "",
        "| FAR | TAR | threshold | resolved by data |",
        "|---|---|---|---|",
    ]
    for k, v in result["tar_at_far"].items():
        thr = "n/a" if v["threshold"] is None else f"{v['threshold']:.3f}"
        lines.append(f"| {k} | {_pct(v['tar'])} | {thr} | {'yes' if v['resolved'] else 'no'} |")
    lines += [
        "",
        "A rate is *not resolved* when there are fewer than 1/rate negatives: the figure shown is then the",
        "zero-false-accept one (stricter than asked).",
        "",
        f"## Failures to enrol: {fte['probes']} probe(s), {fte['gallery']} gallery photo(s)",
        "",
    ]
    for row in fte["probe_photos"]:
        lines.append(f"- probe `{row['path']}` ({row['identity']}): {row['reason']}")
    for row in fte["gallery_photos"]:
        lines.append(f"- gallery `{row['path']}` ({row['identity']}): {row['reason']}")
    if fte["gallery_identities_without_face"]:
        lines.append(f"- gallery identities with no usable face: {', '.join(fte['gallery_identities_without_face'])}")
    if "by_age_gap" in result:
        lines += ["", "## By age gap (years, probe vs nearest-aged gallery photo of the same identity)", ""]
        lines += ["| gap | probes | rank-1 | rank-10 | rank-50 | TAR@FAR 1e-2 |", "|---|---|---|---|---|---|"]
        for name, b in result["by_age_gap"].items():
            lines.append(
                f"| {name} | {b['probes']} | {_pct(b['cmc']['rank1'])} | {_pct(b['cmc']['rank10'])} | "
                f"{_pct(b['cmc']['rank50'])} | {_pct(b['tar_at_far']['0.01']['tar'])} |"
            )
    else:
        lines += ["", "No age-gap split: the CSVs carry no ages."]
    lines += [
        "",
        f"## Timing: {t['total']:.1f} s total (embedding gallery {t['embed_gallery']:.1f} s, probes "
        f"{t['embed_probes']:.1f} s, search+fusion {t['search_and_fuse']:.2f} s; {t['embedded']} embedded, "
        f"{t['cache_hits']} from cache)",
        "",
        "Plots: `cmc.png`, `det.png`, `scores_hist.png`.",
    ]
    if "compare" in result:
        lines += ["", "## Comparison (same gallery and probes)", "", compare_table(result["compare"])]
    return "\n".join(lines) + "\n"


def write_report(result: dict, out: Path) -> dict:
    """Write report.json, report.md and plots; returns the JSON-ready report."""
    out.mkdir(parents=True, exist_ok=True)
    result = dict(result)
    result["plots"] = write_plots(result, out)
    report = {k: v for k, v in result.items() if not k.startswith("_")}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    return report
