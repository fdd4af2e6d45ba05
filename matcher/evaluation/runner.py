"""The ``matcher eval`` runner: labelled gallery and probe photos -> figures per fusion rule.

Embeds both CSVs with a model pack (largest face per photo; embeddings cached by file sha256
under ``DATA_DIR/eval-cache/<pack>/``), builds a ``FaceIndex`` of the gallery faces, searches
it with the real search code, fuses the face scores of each gallery identity with the real
``review.fusion.fuse`` and summarises them with ``evaluation.metrics`` (conventions there).
``evaluation.report`` writes the result out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from matcher.errors import MatcherError
from matcher.evaluation.levers import Levers, plausibility, rank_matrix, ranked
from matcher.evaluation.metrics import summarize
from matcher.evaluation.synthetic import impostor_vectors
from matcher.faces.pipeline import Pipeline
from matcher.files import atomic_write
from matcher.imaging import decode_image
from matcher.index.faiss_index import FaceIndex
from matcher.review.fusion import fuse
from matcher.review.normalization import CohortSizes


@dataclass
class Photo:
    path: Path
    identity: str
    age: float | None = None
    date: str | None = None
    birth_year: int | None = None
    sex: str | None = None
    embedding: np.ndarray | None = None  # None: no face (failure to enrol)
    error: str | None = None  # why there is no embedding


@dataclass
class EmbedStats:
    seconds: float = 0.0
    cache_hits: int = 0
    computed: int = 0
    extra: dict = field(default_factory=dict)


def read_csv(path: Path) -> list[Photo]:
    """``path,identity`` + optional ``age,date,birth_year,sex``; relative paths are relative to the CSV."""
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
            year_text = (row.get("birth_year") or "").strip()
            photos.append(
                Photo(
                    p,
                    row["identity"].strip(),
                    float(age_text) if age_text else None,
                    (row.get("date") or None),
                    int(year_text) if year_text else None,
                    (row.get("sex") or "").strip() or None,
                )
            )
    return photos


def embed_photos(services, pack: str, photos: list[Photo], mirror_tta: bool | None = None) -> EmbedStats:
    """Largest face's embedding per photo, cached by file sha256 (``.npy``; an empty array
    records "no face"). Undecodable photos are failures to enrol with the reason kept.
    ``mirror_tta`` overrides the setting (each choice has its own cache)."""
    tta = services.settings.mirror_tta if mirror_tta is None else mirror_tta
    cache = services.settings.data_dir / "eval-cache" / (pack + ("-mirror" if tta else ""))
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
                base = services.pipeline(pack)
                pipeline = Pipeline(base.detector, base.recognizer, replace(base.config, mirror_tta=tta))
            try:
                faces, _ = pipeline.analyze_photo(decode_image(data, services.limits).bgr)
            except MatcherError as exc:
                if exc.status >= 500:
                    raise
                photo.error = exc.message
                continue  # not cached: the limits may change
            vec = faces[0].embedding.astype(np.float32) if faces else np.zeros(0, np.float32)
            buf = io.BytesIO()
            np.save(buf, vec)
            atomic_write(cached, buf.getvalue())
            stats.computed += 1
        if vec.size:
            photo.embedding = vec
        else:
            photo.error = "no face found"
    stats.seconds = time.perf_counter() - start
    return stats


def score_matrix(gallery: list[Photo], probes: list[Photo], identities: list[str], pack: str, dim: int, rule: str, threshold: float) -> np.ndarray:
    """Probes x identities fused scores via the real FaceIndex search and fusion code."""
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


def evaluate(
    services, gallery_csv: Path, probes_csv: Path, pack: str, rules: tuple[str, ...] = ("best",), levers: Levers | None = None, distractors: int = 0
) -> list[dict]:
    """One result dict per fusion rule (embeddings computed once); ``levers`` default to the
    settings (``evaluation.levers``). ``distractors``: that many synthetic identities added
    to the gallery (``synthetic_distractors``), for figures at an archive's scale."""
    t0 = time.perf_counter()
    levers = levers or Levers.from_settings(services.settings)
    info = services.pack_info(pack)
    gallery, probes = read_csv(gallery_csv), read_csv(probes_csv)
    g_stats = embed_photos(services, pack, gallery, levers.mirror_tta)
    p_stats = embed_photos(services, pack, probes, levers.mirror_tta)
    if distractors:
        gallery = gallery + synthetic_distractors(gallery + probes, distractors, info)
    identities = sorted({g.identity for g in gallery})
    col = {name: j for j, name in enumerate(identities)}
    truth = np.array([col.get(p.identity, -1) for p in probes], dtype=np.int64)
    has_face = np.array([p.embedding is not None for p in probes], dtype=bool)
    gaps = age_gaps(gallery, probes)
    results = []
    for rule in rules:
        t1 = time.perf_counter()
        raw = score_matrix(gallery, probes, identities, pack, info.embedding_dim, rule, info.same_person_threshold)
        scores, order = raw, raw
        if levers.score_norm == "snorm" or levers.rank_method != "raw":
            vectors, groups = _gallery_by_identity(gallery, identities, info.embedding_dim)
            sizes = CohortSizes(levers.norm_top_k, levers.rank_cohort_k)
            if levers.score_norm == "snorm":
                scores = rank_matrix("snorm", raw, vectors, groups, sizes, info.impostor_prior)
            order = (
                scores
                if levers.rank_method == ("snorm" if levers.score_norm == "snorm" else "raw")
                else rank_matrix(levers.rank_method, raw, vectors, groups, sizes, info.impostor_prior)
            )
        if levers.age_ranking:
            plausible = plausibility(probes, gallery, identities)
            scores, order = ranked(scores, plausible), ranked(order, plausible)
        result = summarize(scores, truth, has_face, gaps, order=order)
        search_s = time.perf_counter() - t1
        fte_g = [{"path": str(g.path), "identity": g.identity, "reason": g.error} for g in gallery if g.embedding is None]
        fte_p = [{"path": str(p.path), "identity": p.identity, "reason": p.error} for p in probes if p.embedding is None]
        empty_ids = sorted({g.identity for g in gallery} - {g.identity for g in gallery if g.embedding is not None})
        result.update(
            pack=pack,
            fusion=rule,
            levers=levers.__dict__ | {"name": levers.name},
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
        result["counts"]["synthetic_distractors"] = distractors
        result["counts"]["gallery_faces"] = int(sum(g.embedding is not None for g in gallery))
        result["_curves"]["scores"] = scores
        results.append(result)
    return results


def synthetic_distractors(real: list[Photo], n: int, info, seed: int = 7) -> list[Photo]:
    """``n`` one-photo identities that are nobody: unit vectors drawn to the pack's impostor
    statistics (``evaluation.synthetic.impostor_vectors``) around the mean direction of the
    real embeddings, so that they score against real faces about as unrelated real faces do.
    They stand in for the thousands of other children in a shelter archive; they have no
    hubs, so they show harm or no harm at scale, not the gains a real young gallery would."""
    vectors = [p.embedding for p in real if p.embedding is not None]
    centre = np.mean(vectors, axis=0) if vectors else None
    synthetic = impostor_vectors(n, info.embedding_dim, *info.impostor_prior, seed=seed, centre=centre)
    return [Photo(Path(f"synthetic-distractor-{i:06d}"), f"~distractor-{i:06d}", embedding=v) for i, v in enumerate(synthetic)]


def _gallery_by_identity(gallery: list[Photo], identities: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Gallery face vectors sorted by identity and each identity's start row (an identity
    without a face gets a zero vector, so it scores 0 and keeps its column)."""
    rows, starts = [], []
    for ident in identities:
        starts.append(len(rows))
        mine = [g.embedding for g in gallery if g.identity == ident and g.embedding is not None]
        rows += mine or [np.zeros(dim, np.float32)]
    return np.stack(rows).astype(np.float32), np.array(starts, np.int64)
