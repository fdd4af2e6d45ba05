"""`matcher eval` on the shared labelled photos, checked against an independent numpy computation."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.evaluation import metrics
from matcher.evaluation import runner as evaluation
from matcher.evaluation.levers import Levers, variants
from matcher.faces.pipeline import Pipeline
from matcher.imaging import decode_image


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "identity"])
        writer.writerows(rows)


@pytest.fixture
def split(tmp_path, labelled_photos):
    """Gallery/probes CSVs: last photo of each identity with >=2 photos is a probe, one
    single-photo identity is probe-only (non-mated), plus a blank (no-face) probe and a
    blank gallery photo, both of existing identities."""
    by_id: dict[str, list[Path]] = defaultdict(list)
    for photo in labelled_photos:
        by_id[photo.identity].append(photo.path)
    singles = sorted(i for i, paths in by_id.items() if len(paths) == 1)
    assert singles, "need one single-photo identity for the open-set part"
    probe_only = singles[-1]
    gallery, probes = [], []
    for identity in sorted(by_id):
        paths = by_id[identity]
        if identity == probe_only:
            probes.append((str(paths[0]), identity))
        elif len(paths) >= 2:
            probes.append((str(paths[-1]), identity))
            gallery += [(str(p), identity) for p in paths[:-1]]
        else:
            gallery.append((str(paths[0]), identity))
    blank = np.full((240, 240, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "blank_probe.png"), blank)
    cv2.imwrite(str(tmp_path / "blank_gallery.png"), blank + 1)  # different bytes, different cache key
    mated_identity = probes[0][1]
    probes.append(("blank_probe.png", mated_identity))  # relative to the CSV's folder
    gallery.append(("blank_gallery.png", mated_identity))
    _write_csv(tmp_path / "gallery.csv", gallery)
    _write_csv(tmp_path / "probes.csv", probes)
    return tmp_path / "gallery.csv", tmp_path / "probes.csv", probe_only


def _embedding(services, path: Path) -> np.ndarray | None:
    """The raw model's embedding (no mirror TTA, as the eval run below is configured)."""
    base = services.pipeline()
    raw = Pipeline(base.detector, base.recognizer, replace(base.config, mirror_tta=False))
    faces, _ = raw.analyze_photo(decode_image(path.read_bytes(), services.limits).bgr)
    return faces[0].embedding.astype(np.float64) if faces else None


@pytest.mark.slow
def test_eval_report_matches_independent_numpy(split, tmp_path, services, model_cache, monkeypatch):
    gallery_csv, probes_csv, _probe_only = split
    monkeypatch.setenv("MATCHER_DATA_DIR", str(model_cache))
    monkeypatch.setenv("MATCHER_ORT_THREADS", "2")
    for lever in ("SCORE_NORM", "MIRROR_TTA", "AGE_RANKING"):  # the raw model: no lever
        monkeypatch.setenv(f"MATCHER_{lever}", "none" if lever == "SCORE_NORM" else "false")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["eval", "--gallery", str(gallery_csv), "--probes", str(probes_csv), "--fusion", "best", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())

    # ---- independent computation: fresh embeddings, brute-force cosine, max per identity ----
    def rows(path):
        with path.open(newline="") as fh:
            return [(path.parent / r["path"], r["identity"]) for r in csv.DictReader(fh)]

    gallery, probes = rows(gallery_csv), rows(probes_csv)
    identities = sorted({i for _, i in gallery})
    g_emb = [(_embedding(services, p), i) for p, i in gallery]
    p_emb = [(_embedding(services, p), i) for p, i in probes]
    scores = np.full((len(probes), len(identities)), -np.inf)
    for r, (q, _) in enumerate(p_emb):
        if q is None:
            continue
        for c, ident in enumerate(identities):
            vecs = [e for e, i in g_emb if i == ident and e is not None]
            if vecs:
                scores[r, c] = float(np.max(np.stack(vecs) @ q))
    truth = [identities.index(i) if i in identities else -1 for _, i in p_emb]

    ranks = []
    for r, t in enumerate(truth):
        if t < 0:
            continue
        s = scores[r, t]
        ranks.append(math.inf if not np.isfinite(s) else 1 + sum(scores[r, c] >= s for c in range(len(identities)) if c != t))
    ranks = np.array(ranks)
    assert report["cmc"]["rank1"] == float(np.mean(ranks <= 1))
    assert report["cmc"]["rank5"] == float(np.mean(ranks <= 5))
    assert set(report["cmc"]) == {"rank1", "rank5", "rank10", "rank20", "rank50"}

    genuine = np.array([scores[r, t] for r, t in enumerate(truth) if t >= 0])
    impostor = np.concatenate([[scores[r, c] for c in range(len(identities)) if c != t and np.isfinite(scores[r, c])] for r, t in enumerate(truth)])
    for far in ("0.01", "0.001", "0.0001"):
        allowed = math.floor(float(far) * impostor.size + 1e-9)
        thr = np.sort(impostor)[::-1][allowed]
        tar = float(np.mean(genuine > thr))
        assert abs(report["tar_at_far"][far]["tar"] - tar) < 1e-9, far
        assert abs(report["tar_at_far"][far]["threshold"] - thr) < 1e-5, far
    assert report["counts"]["impostor_scores"] == impostor.size
    assert report["counts"]["genuine_scores"] == genuine.size

    # ---- open set: the probe-only identity is the non-mated search ----
    assert report["counts"]["nonmated_probes"] == 1
    nonmated_best = scores[next(r for r, t in enumerate(truth) if t < 0)].max()
    mated_scores = genuine
    dir_expected = float(np.mean((ranks <= 1) & (mated_scores > nonmated_best)))
    assert report["dir_at_fpir"]["0.01"]["dir"] == dir_expected

    # ---- failures to enrol are counted, not dropped ----
    fte = report["failures_to_enrol"]
    assert fte["probes"] == 1 and fte["probe_photos"][0]["path"].endswith("blank_probe.png")
    assert fte["gallery"] == 1 and fte["gallery_photos"][0]["path"].endswith("blank_gallery.png")
    assert report["counts"]["probes"] == len(probes)
    assert report["counts"]["mated_probes"] == len(probes) - 1 == ranks.size
    assert report["cmc"]["rank50"] <= (ranks.size - 1) / ranks.size  # the blank probe is a miss at every rank
    assert "by_age_gap" not in report  # no ages in this data

    # ---- plots and markdown ----
    assert report["plots"] == ["cmc.png", "det.png", "scores_hist.png"]
    for name in report["plots"]:
        with Image.open(out / name) as im:
            im.verify()
            assert im.format == "PNG"
    assert "rank-1" in (out / "report.md").read_text()

    # ---- a second run reads every embedding from the cache ----
    again = evaluation.evaluate(services, gallery_csv, probes_csv, services.settings.pack, levers=Levers())[0]
    assert again["timing_s"]["embedded"] == 0
    assert again["cmc"] == report["cmc"]


@pytest.mark.slow
def test_levers_compare_on_shared_photos_lowers_no_rank1_and_snorm_matches_numpy(split, services):
    """Each lever alone and all together, on the same split: none may lower rank-1; the
    S-normalised matrix equals an independent numpy computation."""
    gallery_csv, probes_csv, _ = split
    results = {lv.name: evaluation.evaluate(services, gallery_csv, probes_csv, services.settings.pack, levers=lv)[0] for lv in variants()}
    print(json.dumps({name: r["cmc"] for name, r in results.items()}))
    base = results["raw model"]["cmc"]["rank1"]
    for name, r in results.items():
        assert r["cmc"]["rank1"] >= base, name

    raw = results["raw model"]["_curves"]["scores"]
    z = results["snorm"]["_curves"]["scores"]
    gallery = evaluation.read_csv(gallery_csv)
    evaluation.embed_photos(services, services.settings.pack, gallery, False)
    identities = sorted({g.identity for g in gallery})
    vec = {i: np.stack([g.embedding for g in gallery if g.identity == i and g.embedding is not None]) for i in identities}

    def top(values, k=20):
        v = sorted((x for x in values if np.isfinite(x)), reverse=True)[:k]
        m = float(np.mean(v))
        return m, max(float(np.std(v)), 0.02)

    g_stats = [top([float((vec[a] @ vec[b].T).max()) for b in identities if b != a]) for a in identities]
    for r in range(raw.shape[0]):
        if not np.isfinite(raw[r]).any():
            continue
        qm, qs = top(raw[r])
        for c in range(raw.shape[1]):
            gm, gs = g_stats[c]
            assert z[r, c] == pytest.approx(0.5 * (raw[r, c] - qm) / qs + 0.5 * (raw[r, c] - gm) / gs, abs=1e-4)


def test_metric_functions_on_hand_made_scores():
    scores = np.array(
        [
            [0.9, 0.1, 0.2],  # truth 0 -> rank 1
            [0.5, 0.4, 0.5],  # truth 1 -> rank 3 (tie counts against)
            [-np.inf, -np.inf, -np.inf],  # truth 2, no face -> miss
            [0.3, 0.2, 0.1],  # non-mated, best 0.3
        ]
    )
    truth = np.array([0, 1, 2, -1])
    out = metrics.summarize(scores, truth, np.array([True, True, False, True]))
    assert out["cmc"]["rank1"] == pytest.approx(1 / 3)
    assert out["cmc"]["rank5"] == pytest.approx(2 / 3)  # the no-face probe never counts as found
    assert out["dir_at_fpir"]["0.01"]["dir"] == pytest.approx(1 / 3)  # 0.9 > 0.3
    assert out["counts"]["probes_without_face"] == 1
    gen, imp = out["_curves"]["genuine"], out["_curves"]["impostor"]
    assert gen.size == 3 and imp.size == 7
    assert out["tar_at_far"]["0.01"]["threshold"] == 0.5  # max impostor, 0 false accepts allowed
    assert out["tar_at_far"]["0.01"]["tar"] == pytest.approx(1 / 3)
    assert not out["tar_at_far"]["0.01"]["resolved"]


def test_age_gap_buckets():
    assert [metrics.age_bucket(g) for g in (0, 2, 3, 5, 6, 10, 11, 40)] == ["0-2", "0-2", "3-5", "3-5", "6-10", "6-10", "11+", "11+"]
    assert metrics.age_bucket(None) is None
    scores = np.array([[0.9, 0.1], [0.2, 0.3]])
    out = metrics.summarize(scores, np.array([0, 0]), np.array([True, True]), gaps=np.array([1.0, 12.0]))
    assert out["by_age_gap"]["0-2"]["cmc"]["rank1"] == 1.0
    assert out["by_age_gap"]["11+"]["cmc"]["rank1"] == 0.0
