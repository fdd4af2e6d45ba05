"""Benchmark the face pipeline on this machine; the last line of output is one JSON object.

Figures:
* ``detect_ms_per_image``: detector graph + decoding + NMS at 640x640, median per image.
* ``embed_ms_per_face``: recognizer at batch 1 and 16 (aligned crops ready).
* ``end_to_end``: faces/s and images/s over a folder (file decode, detect, align, quality, embed).
* ``bare``: the same model work as bare ``session.run`` calls on prepared tensors; the pipeline's
  own overhead is ``overhead_ratio`` = pipeline seconds (excluding file decode) / bare seconds.
* ``prelu``: recognizer ms/face with the original PRelu graph vs the Relu/Neg/Mul/Sub rewrite.

Usage: python scripts/bench_pipeline.py [--folder DIR] [--threads N] [--repeat N]
(default folder: ../shared/data/faces, else copies of scikit-image's astronaut).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.faces.packs import get_pack  # noqa: E402
from matcher.settings import Settings, apply_privacy_env  # noqa: E402

apply_privacy_env()


def _images(folder: Path | None) -> list[bytes]:
    if folder is None:
        default = Path(os.environ.get("MATCHER_TEST_DATA") or ROOT.parent / "shared" / "data") / "faces"
        folder = default if default.is_dir() else None
    if folder is not None:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
        return [p.read_bytes() for p in files]
    import cv2
    from skimage import data

    _, buf = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return [buf.tobytes()] * 20


def _timed(fn, repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _prelu_figures(pack, cache: Path, threads: int, repeat: int) -> dict:
    import onnx

    from matcher.faces import convert
    from matcher.faces.runtime import make_session

    folded = convert.dynamic_batch(convert.fold_constants(onnx.load(str(pack.resolve(pack.recognizer)))))
    batch = np.random.default_rng(0).uniform(0, 255, (16, 3, 112, 112)).astype(np.float32)
    result = {}
    for name, model in (("prelu_ms_per_face", folded), ("relu_rewrite_ms_per_face", convert.rewrite_prelu(folded))):
        session = make_session(model.SerializeToString(), threads)
        for bs in (1, 16):
            x = batch[:bs]
            t = statistics.median(_timed(lambda session=session, x=x: session.run(None, {"data": x}), repeat))
            result[f"{name}_b{bs}"] = round(t * 1000 / bs, 3)
    result["speedup_b1"] = round(result["prelu_ms_per_face_b1"] / result["relu_rewrite_ms_per_face_b1"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from matcher.container import Services
    from matcher.faces.align import norm_crop
    from matcher.faces.yunet import letterbox
    from matcher.imaging import decode_image

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), ort_threads=args.threads)
        services = Services(settings)
        pipeline = services.pipeline()
        detector, recognizer = pipeline.detector, pipeline.recognizer
        blobs = _images(args.folder)
        images = [decode_image(b).bgr for b in blobs]

        # detection alone (our letterbox + graph + decode + NMS), and bare graph time
        sample = images[: min(len(images), 20)]
        det = [statistics.median(_timed(lambda im=im: pipeline.detect(im), 3)) for im in sample]
        prepared = [letterbox(im, detector.size)[0] for im in sample]
        det_bare = [statistics.median(_timed(lambda x=x: detector.forward(x), 3)) for x in prepared]

        # embedding alone at batch 1 and 16
        crop = norm_crop(images[0], pipeline.detect(images[0])[0].landmarks)
        crops16 = np.stack([crop] * 16)
        embed = {bs: statistics.median(_timed(lambda bs=bs: recognizer.embed(crops16[:bs]), args.repeat)) * 1000 / bs for bs in (1, 16)}

        # end to end over the folder, and the same model work as bare session.run calls
        t0 = time.perf_counter()
        decoded = [decode_image(b).bgr for b in blobs]
        t_decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = pipeline.analyze(decoded)
        t_pipeline = time.perf_counter() - t0
        n_faces = sum(len(r) for r in results)
        prepared_all = [letterbox(im, detector.size)[0] for im in decoded]
        all_crops = np.stack([f.crop for r in results for f in r]) if n_faces else np.zeros((0, 112, 112, 3), np.uint8)
        rec_input = recognizer.preprocess(all_crops) if hasattr(recognizer, "preprocess") else None
        t0 = time.perf_counter()
        for x in prepared_all:
            detector.forward(x)
        for start in range(0, n_faces, pipeline.config.batch_size):
            recognizer.session.run(None, {recognizer.input_name: rec_input[start : start + pipeline.config.batch_size]})
        t_bare = time.perf_counter() - t0

        pack = get_pack(settings.models_dir, settings.pack)
        report = {
            "pack": pipeline.pack,
            "threads": args.threads,
            "images": len(blobs),
            "faces": n_faces,
            "detect_ms_per_image": round(statistics.median(det) * 1000, 2),
            "detect_bare_ms_per_image": round(statistics.median(det_bare) * 1000, 2),
            "embed_ms_per_face": {"batch_1": round(embed[1], 2), "batch_16": round(embed[16], 2)},
            "end_to_end": {
                "images_per_s": round(len(blobs) / (t_decode + t_pipeline), 2),
                "faces_per_s": round(n_faces / (t_decode + t_pipeline), 2),
                "file_decode_s": round(t_decode, 3),
                "pipeline_s": round(t_pipeline, 3),
            },
            "bare_model_s": round(t_bare, 3),
            "overhead_ratio": round(t_pipeline / t_bare, 3),
            "prelu": _prelu_figures(pack, Path(tmp), args.threads, args.repeat),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
