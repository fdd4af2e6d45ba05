"""Leave-one-out rank-1 on labelled photos for each accuracy lever (prints JSON).

Every photo in turn is the probe; the gallery is every other photo, grouped by identity (an
identity whose only photo is the probe is then absent: a non-mated search, left out of
rank-1). The levers are the same pure functions ``matcher eval`` and matching use
(``evaluation.levers``). Harder than the fixed split in docs/accuracy.md because every
photo, including the odd ones, is a probe once.

    python scripts/loo_levers.py [--data ../shared/data/faces]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matcher.container import Services
from matcher.evaluation.levers import rank_matrix, variants
from matcher.evaluation.runner import Photo, embed_photos
from matcher.review.normalization import CohortSizes
from matcher.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "faces")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "matcher-loo")
    args = ap.parse_args()
    photos = []
    for manifest in sorted(args.data.glob("*/manifest.csv")):
        with manifest.open(newline="") as fh:
            photos += [Photo(manifest.parent / r["path"], r["identity"]) for r in csv.DictReader(fh)]
    services = Services(Settings(data_dir=args.data_dir, ort_threads=2))
    info = services.pack_info()
    out = {"photos": len(photos), "identities": len({p.identity for p in photos}), "variants": []}
    for lv in variants(services.settings.norm_top_k, services.settings.rank_cohort_k):
        if lv.age_ranking and not lv.mirror_tta and lv.score_norm == "none":
            continue  # no ages in this data: the age lever is a no-op here (shown by matcher eval)
        ps = [Photo(p.path, p.identity) for p in photos]
        embed_photos(services, info.name, ps, lv.mirror_tta)
        ok = [p for p in ps if p.embedding is not None]
        hits = n = 0
        for i, probe in enumerate(ok):
            gallery = [g for j, g in enumerate(ok) if j != i]
            idents = sorted({g.identity for g in gallery})
            if probe.identity not in idents:
                continue
            rows, starts = [], []
            for ident in idents:
                starts.append(len(rows))
                rows += [g.embedding for g in gallery if g.identity == ident]
            vecs = np.stack(rows).astype(np.float32)
            st = np.array(starts)
            sims = probe.embedding @ vecs.T
            scores = np.maximum.reduceat(sims, st)[None, :].astype(np.float64)
            scores = rank_matrix(lv.rank_method, scores, vecs, st, CohortSizes(lv.norm_top_k, lv.rank_cohort_k), info.impostor_prior)
            hits += int(idents[int(np.argmax(scores[0]))] == probe.identity)
            n += 1
        out["variants"].append({"levers": lv.name, "rank1": round(hits / n, 4), "probes": n})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
