"""Command line for staff: thin, parses arguments, calls Services, shapes output."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from matcher.errors import MatcherError
from matcher.settings import Settings, apply_privacy_env

app = typer.Typer(help="matcher: face matching for family reunification (ranked leads for human review).", no_args_is_help=True)


def _services(ctx: typer.Context):
    from matcher.services import Services

    if ctx.obj is None:
        ctx.obj = Services(Settings())
    return ctx.obj


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress to stderr")] = False) -> None:
    apply_privacy_env()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def faces(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="photos to analyse", exists=False)],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
) -> None:
    """Detect faces in photos: box, 5 landmarks, detector score and quality."""
    services = _services(ctx)
    failed = 0
    for path in images:
        record: dict = {"path": str(path), "faces": []}
        try:
            result = services.analyze_file(path, pack)
            record["faces"] = [f.summary() for f in result.faces]
        except MatcherError as exc:
            if exc.status >= 500:
                raise
            failed += 1
            record["error"] = {"code": exc.code, "message": exc.message}
        except OSError as exc:
            failed += 1
            record["error"] = {"code": "unreadable_file", "message": f"cannot read {path}: {exc.strerror}"}
        if as_json:
            typer.echo(json.dumps(record))
        elif "error" in record:
            typer.echo(f"{path}: error: {record['error']['message']}")
        else:
            typer.echo(f"{path}: {len(record['faces'])} face(s)")
            for i, f in enumerate(record["faces"]):
                typer.echo(f"  #{i} box={f['box']} det={f['det_score']:.2f} quality={f['quality']:.2f}")
    raise typer.Exit(1 if failed else 0)


@app.command()
def compare(
    ctx: typer.Context,
    a: Path,
    b: Path,
    pack: Annotated[str | None, typer.Option(help="model pack")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Best cosine similarity between any face of photo A and any face of photo B."""
    services = _services(ctx)
    fa, fb = services.analyze_file(a, pack).faces, services.analyze_file(b, pack).faces
    if not fa or not fb:
        missing = [str(p) for p, f in ((a, fa), (b, fb)) if not f]
        typer.echo(f"no face found in: {', '.join(missing)}", err=True)
        raise typer.Exit(1)
    best, i, j = max((float(x.embedding @ y.embedding), i, j) for i, x in enumerate(fa) for j, y in enumerate(fb))
    threshold = _pack_threshold(services, pack)
    if as_json:
        typer.echo(json.dumps({"a": str(a), "b": str(b), "similarity": round(best, 4), "face_a": i, "face_b": j, "threshold_hint": threshold}))
    else:
        verdict = "similar" if best >= threshold else "not similar"
        typer.echo(f"{best:.4f} ({verdict} by the pack's hint {threshold}; a person decides)")


def _pack_threshold(services, pack: str | None) -> float:
    from matcher.faces.packs import get_pack

    return get_pack(services.settings.models_dir, pack or services.settings.pack).same_person_threshold


@app.command()
def models(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List model packs, whether their files are present and intact, and their licence."""
    from matcher.faces.packs import list_packs, pack_state

    settings = _services(ctx).settings
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


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default MATCHER_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default MATCHER_PORT (8000)")] = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    from matcher.api.app import create_app

    services = _services(ctx)
    settings = services.settings
    api = create_app(settings, services=services)
    h, p = host or settings.host, port or settings.port
    typer.echo(f"matcher on http://{h}:{p}  (API docs: http://{h}:{p}/docs; data in {settings.data_dir.resolve()})")
    uvicorn.run(api, host=h, port=p, log_level="info", server_header=False)


def run() -> None:  # pragma: no cover - console entry for python -m
    try:
        app()
    except MatcherError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
