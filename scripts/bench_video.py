"""Video throughput: seconds of processing per minute of 720p video (target <= 20 s on 2 cores).

Builds a 1-minute 1280x720 H.264 clip in a temporary folder by looping and upscaling a shared
clip (never kept), runs ``analyze_video`` with the default Settings and prints one JSON object
as the last line.

    python scripts/bench_video.py [--source CLIP] [--fps 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.settings import Settings, apply_privacy_env  # noqa: E402

DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "videos" / "short_hamilton_clip.mp4"


def build_clip(source: Path, dest: Path, seconds: float, size=(1280, 720), fps: int = 30) -> None:
    """Loop ``source``, scaled to ``size``, into an H.264 MP4 of ``seconds``."""
    import av

    total = int(seconds * fps)
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        n = 0
        while n < total:
            with av.open(str(source)) as src:
                for frame in src.decode(video=0):
                    img = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    img.pts, img.time_base = n, Fraction(1, fps)
                    out.mux(stream.encode(img))
                    n += 1
                    if n >= total:
                        break
        out.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path(os.environ.get("MATCHER_BENCH_VIDEO", DEFAULT_SOURCE)))
    parser.add_argument("--fps", type=float, default=None, help="sampling rate (default: Settings)")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    apply_privacy_env()
    from matcher.services.container import Services
    from matcher.video import VideoOptions, analyze_video

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "bench_720p.mp4"
        t0 = time.perf_counter()
        build_clip(args.source, clip, args.seconds)
        build_s = time.perf_counter() - t0
        overrides = {"data_dir": Path(tmp) / "var"}
        if args.fps:
            overrides["video_sample_fps"] = args.fps
        settings = Settings(**overrides)
        services = Services(settings)
        pipeline = services.pipeline()
        options = VideoOptions.from_settings(settings, services.pack_info().same_person_threshold)
        data = clip.read_bytes()
        pipeline.analyze_one(__import__("numpy").zeros((720, 1280, 3), "uint8"))  # load + warm the models
        t0 = time.perf_counter()
        result = analyze_video(data, pipeline, options)
        seconds = time.perf_counter() - t0
    minutes = max(result.duration, 1e-9) / 60
    print(json.dumps({
        "source": args.source.name,
        "resolution": "1280x720",
        "video_seconds": round(result.duration, 2),
        "processing_seconds": round(seconds, 2),
        "seconds_per_minute_720p": round(seconds / minutes, 2),
        "target_seconds_per_minute": 20,
        "sample_fps": settings.video_sample_fps,
        "frames_decoded": result.frames_decoded,
        "frames_sampled": result.frames_sampled,
        "faces_embedded": result.faces_embedded,
        "faces_kept": sum(len(t.faces) for t in result.tracks),
        "tracks": len(result.tracks),
        "threads": settings.threads,
        "clip_build_seconds": round(build_s, 1),
        "warnings": list(result.warnings),
    }))


if __name__ == "__main__":
    main()
