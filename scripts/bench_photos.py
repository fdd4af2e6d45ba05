"""Real-photo parts of the match benchmark (``scripts/bench_match.py``, issue 12): a folder
archive of >= 1,000 children made from the shared photos, imported like ``matcher index``
with its matching timed on its own, and the cost of ``MATCHER_MIRROR_TTA``.

The shared photos are 95 photos of 23 adults; each child folder re-uses one identity's
photos with small random changes (mirror, crop, brightness, JPEG quality), so every file has
its own sha256 and goes through the whole pipeline. The 23 identities are first loaded as
reports (untimed) so that the children have reports to be matched against.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_match import _candidate_stats, _log, _machine, _profiled, _settings

from matcher.container import Services


def shared_photos() -> dict[str, list[Path]]:
    """identity -> photo paths of the shared labelled photos ({} when absent)."""
    faces = Path(os.environ.get("MATCHER_TEST_DATA") or Path(__file__).resolve().parent.parent.parent / "shared" / "data") / "faces"
    out: dict[str, list[Path]] = {}
    for manifest in sorted(faces.glob("*/manifest.csv")) if faces.is_dir() else []:
        with manifest.open(newline="") as fh:
            for row in csv.DictReader(fh):
                out.setdefault(row["identity"], []).append(manifest.parent / row["path"])
    return out


def _augment(src: Path, dst: Path, rng: np.random.Generator) -> None:
    """A slightly different copy: mirror (p=0.5), crop keeping 85-100 % of each side,
    brightness x0.8-1.2, JPEG quality 70-95."""
    from PIL import Image, ImageEnhance, ImageOps

    with Image.open(src) as im:
        img = ImageOps.exif_transpose(im).convert("RGB")
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    w, h = img.size
    cw, ch = int(w * rng.uniform(0.85, 1.0)), int(h * rng.uniform(0.85, 1.0))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.2)))
    img.save(dst, "JPEG", quality=int(rng.integers(70, 96)))


def build_real_archive(root: Path, photos: dict[str, list[Path]], records: int, seed: int) -> dict[str, Any]:
    """``records`` child folders; each child is one identity, with 1-3 (mean 2) augmented
    photos of it. Every file's sha256 is distinct (re-drawn on the rare collision)."""
    rng = np.random.default_rng(seed)
    identities = sorted(photos)
    seen: set[str] = set()
    n_photos = 0
    for i in range(records):
        ident = identities[int(rng.integers(len(identities)))]
        folder = root / f"C{i:05d}"
        folder.mkdir(parents=True)
        for j in range(int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))):
            src = photos[ident][int(rng.integers(len(photos[ident])))]
            dst = folder / f"p{j}.jpg"
            while True:
                _augment(src, dst, rng)
                digest = hashlib.sha256(dst.read_bytes()).hexdigest()
                if digest not in seen:
                    seen.add(digest)
                    break
            n_photos += 1
    return {"records": records, "photos": n_photos, "identities": len(identities), "source_photos": sum(map(len, photos.values()))}


def reports_folder(root: Path, photos: dict[str, list[Path]]) -> Path:
    """The original shared photos as one report folder per identity (symlinks)."""
    for n, (_identity, paths) in enumerate(sorted(photos.items())):
        folder = root / f"R{n:03d}"
        folder.mkdir(parents=True)
        for j, p in enumerate(paths):
            (folder / f"{j}{p.suffix.lower()}").symlink_to(p)
    return root


def real_case(archive: Path, reports: Path, workers: int, profile: bool = False) -> dict[str, Any]:
    """``matcher index`` of ``archive`` as children after ``reports`` were loaded as reports;
    the import's matching timed on its own (the same calls ``import_archive`` makes)."""
    from matcher.ingest.batch import import_archive

    with tempfile.TemporaryDirectory() as tmp:
        services = Services(_settings(Path(tmp)))
        services.pipeline()  # model conversion (first run only) is not part of the timing
        setup = import_archive(services, reports, "report", "bench", match=True)
        t0, c0 = time.perf_counter(), time.process_time()
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        result = import_archive(services, archive, "child", "bench", workers=workers, match=False)
        t1, c1 = time.perf_counter(), time.process_time()
        ids = services.records_with_media_since("child", started)
        with _profiled(profile, f"new matcher, {len(ids)} children from real photos"):
            touched = services.match_records(ids)
        t2, c2 = time.perf_counter(), time.process_time()
        s = result.summary
        total = t2 - t0
        row = {
            "reports_loaded": setup.summary.records,
            "records": s.records,
            "photos": s.photos,
            "faces": s.faces,
            "no_face": s.no_face,
            "failed": s.failed,
            "workers": workers,
            "mirror_tta": services.settings.mirror_tta,  # the default of `matcher index` unless MATCHER_MIRROR_TTA says otherwise
            "index_s": round(t1 - t0, 2),
            "match_s": round(t2 - t1, 2),
            "total_s": round(total, 2),
            "photos_per_s": round(s.photos / total, 2),
            "photos_per_s_without_match": round(s.photos / (t1 - t0), 2),
            "match_records_per_s": round(len(ids) / (t2 - t1), 2) if t2 > t1 else None,
            "match_share": round((t2 - t1) / total, 4),
            # this process's CPU time (less sensitive to other load; embedding workers' CPU is
            # not counted when workers > 1)
            "index_cpu_s": round(c1 - c0, 2),
            "match_cpu_s": round(c2 - c1, 2),
            "match_share_cpu": round((c2 - c1) / (c2 - c0), 4) if workers == 1 else None,
            "profiled": profile,
            "candidates_touched": touched,
            **{k: v for k, v in _candidate_stats(services, {}).items() if k in ("candidates", "by_kind_status", "records_left_pending")},
            "machine_after": _machine(),
        }
        services.engine.dispose()
        _log({"real": row})
        return row


def tta_case(archive: Path, workers: int) -> dict[str, Any]:
    """The import (matching left out) with ``mirror_tta`` off, then on, in fresh DATA_DIRs."""
    from matcher.ingest.batch import import_archive

    rows = {}
    for tta in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            services = Services(_settings(Path(tmp), mirror_tta=tta))
            services.pipeline()
            t0 = time.perf_counter()
            s = import_archive(services, archive, "child", "bench", workers=workers, match=False).summary
            seconds = time.perf_counter() - t0
            rows["on" if tta else "off"] = {"photos": s.photos, "faces": s.faces, "seconds": round(seconds, 2), "photos_per_s": round(s.photos / seconds, 2)}
            services.engine.dispose()
            _log({"mirror_tta": tta, **rows["on" if tta else "off"]})
    rows["slowdown"] = round(rows["off"]["photos_per_s"] / rows["on"]["photos_per_s"], 3)
    rows["within_1_5x"] = rows["slowdown"] <= 1.5
    return rows


def subset(archive: Path, root: Path, photos: int) -> Path:
    """The first record folders of ``archive`` holding about ``photos`` photos (symlinks)."""
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    for folder in sorted(p for p in archive.iterdir() if p.is_dir()):
        if n >= photos:
            break
        (root / folder.name).symlink_to(folder)
        n += sum(1 for _ in folder.iterdir())
    return root
