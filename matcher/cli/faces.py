"""Commands on photos and videos that store nothing: ``faces``, ``compare``, ``models``, ``video``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import get_services, per_file
from matcher.errors import FileTooLargeError


def faces(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="photos to analyse", exists=False)],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
) -> None:
    """Detect faces in photos: box, 5 landmarks, detector score and quality."""
    services = get_services(ctx)
    failed = 0
    for path in images:
        record: dict = {"path": str(path), "faces": []}

        def work(record=record, path=path) -> None:
            record["faces"] = [f.summary() for f in services.analyze_file(path, pack).faces]

        failed += per_file(path, record, work)
        if as_json:
            typer.echo(json.dumps(record))
        elif "error" in record:
            typer.echo(f"{path}: error: {record['error']['message']}")
        else:
            typer.echo(f"{path}: {len(record['faces'])} face(s)")
            for i, f in enumerate(record["faces"]):
                typer.echo(f"  #{i} box={f['box']} det={f['det_score']:.2f} quality={f['quality']:.2f}")
    raise typer.Exit(1 if failed else 0)


def compare(
    ctx: typer.Context,
    a: Path,
    b: Path,
    pack: Annotated[str | None, typer.Option(help="model pack")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Best cosine similarity between any face of photo A and any face of photo B."""
    services = get_services(ctx)
    fa, fb = services.analyze_file(a, pack).faces, services.analyze_file(b, pack).faces
    if not fa or not fb:
        missing = [str(p) for p, f in ((a, fa), (b, fb)) if not f]
        typer.echo(f"no face found in: {', '.join(missing)}", err=True)
        raise typer.Exit(1)
    best, i, j = max((float(x.embedding @ y.embedding), i, j) for i, x in enumerate(fa) for j, y in enumerate(fb))
    threshold = services.pack_info(pack).same_person_threshold
    if as_json:
        typer.echo(json.dumps({"a": str(a), "b": str(b), "similarity": round(best, 4), "face_a": i, "face_b": j, "threshold_hint": threshold}))
    else:
        verdict = "similar" if best >= threshold else "not similar"
        typer.echo(f"{best:.4f} ({verdict} by the pack's hint {threshold}; a person decides)")


def models(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List model packs, whether their files are present and intact, and their licence."""
    from matcher.faces.packs import list_packs, pack_state  # reads manifests and hashes model files

    settings = get_services(ctx).settings
    states = [pack_state(p) for p in list_packs(settings.models_dir)]
    if as_json:
        typer.echo(json.dumps([{**s.__dict__, "default": s.name == settings.pack} for s in states]))
        return
    for s in states:
        mark = "ready" if s.ready else "NOT READY"
        default = " (default)" if s.name == settings.pack else ""
        use = "commercial use allowed" if s.commercial_use else "NON-COMMERCIAL ONLY"
        typer.echo(f"{s.name}{default}: {mark}; {s.embedding_dim}-d; {s.licence}; {use}")
        for problem in s.problems:
            typer.echo(f"    - {problem}")


def video(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="video to analyse (MP4, MOV, WebM, AVI, 3GP)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
) -> None:
    """Face tracks of a video: when each person is seen and their best faces."""
    from matcher.video import VideoOptions, analyze_video  # heavy: PyAV (FFmpeg)

    services = get_services(ctx)
    settings = services.settings
    out: dict = {"path": str(file), "tracks": [], "warnings": []}

    def work() -> None:
        size = file.stat().st_size
        if size > settings.video_max_bytes:
            raise FileTooLargeError(f"{file.name} is {size / 1e6:.1f} MB; the limit is {settings.video_max_mb:g} MB.")
        options = VideoOptions.from_settings(settings, services.pack_info(pack).same_person_threshold)
        result = analyze_video(file.read_bytes(), services.pipeline(pack), options)
        out.update(
            tracks=[t.summary() for t in result.tracks],
            warnings=list(result.warnings),
            duration=result.duration,
            frames_decoded=result.frames_decoded,
            frames_sampled=result.frames_sampled,
        )

    failed = per_file(file, out, work)
    if as_json:
        typer.echo(json.dumps(out))
    elif failed:
        typer.echo(f"{file}: error: {out['error']['message']}")
    else:
        typer.echo(f"{file}: {out['duration']:.1f} s, {out['frames_sampled']} frames analysed, {len(out['tracks'])} track(s)")
        for t in out["tracks"]:
            best = max((f["quality"] for f in t["faces"]), default=0.0)
            typer.echo(f"  track {t['id']}: {t['start']:.1f}-{t['end']:.1f} s, {t['detections']} detections, best quality {best:.2f}")
        for w in out["warnings"]:
            typer.echo(f"  warning: {w}")
    raise typer.Exit(failed)
