"""Command line for staff: thin, parses arguments, calls Services, shapes output."""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from matcher.errors import MatcherError
from matcher.settings import Settings, apply_privacy_env

app = typer.Typer(help="matcher: face matching for family reunification (ranked leads for human review).", no_args_is_help=True)


def _services(ctx: typer.Context):
    from matcher.services.container import Services

    if ctx.obj is None:
        ctx.obj = Services(Settings())
    return ctx.obj


def _per_file(path: Path, out: dict, work) -> int:
    """Run one file's work; a person's mistake (bad file) goes into ``out["error"]`` and the
    run continues. Returns 1 when the file failed."""
    try:
        work()
        return 0
    except MatcherError as exc:
        if exc.status >= 500:
            raise
        out["error"] = {"code": exc.code, "message": exc.message}
    except OSError as exc:
        out["error"] = {"code": "unreadable_file", "message": f"cannot read {path}: {exc.strerror}"}
    return 1


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

        def work(record=record, path=path) -> None:
            record["faces"] = [f.summary() for f in services.analyze_file(path, pack).faces]

        failed += _per_file(path, record, work)
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


class Side(str, Enum):
    children = "children"
    reports = "reports"

    @property
    def record_side(self) -> str:
        return "child" if self is Side.children else "report"


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@app.command("index")
def index_archive(
    ctx: typer.Context,
    archive: Annotated[Path | None, typer.Argument(help="folder with one sub-folder per record (folder name = record number)")] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV: record_id,path[,name,sex,birth_year,shelter,found_on,found_at,notes]")] = None,
    side: Annotated[Side, typer.Option(help="children (shelter archive) or reports (bulk-load family reports)")] = Side.children,
    workers: Annotated[int, typer.Option(min=1, max=64, help="embedding processes")] = 1,
    chunk: Annotated[int, typer.Option(min=1, max=10_000, help="photos per database transaction")] = 32,
    report: Annotated[Path | None, typer.Option(help="CSV of failed / no-face photos (default DATA_DIR/reports/)")] = None,
    pack: Annotated[str | None, typer.Option(help="model pack")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    match: Annotated[bool, typer.Option(help="match new records against the other side afterwards")] = True,
    allow_erased: Annotated[bool, typer.Option(help="re-import files of erased records (only when a person asked for it)")] = False,
) -> None:
    """Index a shelter archive. Safe to stop and re-run: stored files are skipped."""
    from matcher.ingest.archive import scan_folder, scan_manifest
    from matcher.ingest.indexer import ArchiveIndexer

    if (archive is None) == (manifest is None):
        raise typer.BadParameter("give either an ARCHIVE folder or --manifest CSV")
    items = scan_manifest(manifest) if manifest else scan_folder(archive)
    import datetime as dt

    services = _services(ctx)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    indexer = ArchiveIndexer(services, side.record_side, pack, workers, chunk, report, actor=_actor(), allow_erased=allow_erased)
    if progress and not as_json:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} photos/s"), TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("index", total=None, rate="-")

            def tick(done: int, total: int) -> None:
                elapsed = bar.tasks[0].elapsed or 1e-9
                bar.update(task, completed=done, total=total, rate=f"{done / elapsed:.1f}")

            summary = indexer.run(items, tick)
    else:
        summary = indexer.run(items)
    candidates = services.match_records(services.records_with_media_since(side.record_side, started), pack) if match else 0
    if as_json:
        typer.echo(json.dumps({**summary.as_dict(), "candidates_touched": candidates}))
    else:
        s = summary
        typer.echo(
            f"photos {s.photos}: new {s.new_media}, skipped {s.skipped} (already stored), failed {s.failed}, "
            f"no face {s.no_face}; faces {s.faces}; records {s.records}; {s.seconds:.1f} s"
        )
        if s.report:
            typer.echo(f"problems listed in {s.report}")
        if match:
            typer.echo(f"matching: {candidates} candidate(s) created or updated for review")


@app.command()
def search(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="query photos")],
    top: Annotated[int, typer.Option(min=1, max=1000, help="records per photo")] = 20,
    side: Annotated[Side, typer.Option(help="which side to search")] = Side.children,
    pack: Annotated[str | None, typer.Option(help="model pack")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per photo")] = False,
) -> None:
    """Search the index with photos: records ranked by their best face's similarity (audited)."""
    services = _services(ctx)
    failed = 0
    for path in photos:
        out: dict = {"query": str(path), "faces": 0, "candidates": []}

        def work(out=out, path=path) -> None:
            analyzed, candidates = services.search_photo(services.read_file(path), side.record_side, top, _actor(), "staff", pack)
            out["faces"] = len(analyzed.faces)
            out["candidates"] = [c.as_dict() for c in candidates]

        failed += _per_file(path, out, work)
        if as_json:
            typer.echo(json.dumps(out))
        elif "error" in out:
            typer.echo(f"{path}: error: {out['error']['message']}")
        else:
            typer.echo(f"{path}: {out['faces']} face(s)")
            for rank, c in enumerate(out["candidates"], start=1):
                typer.echo(f"  {rank:3d}. record {c['record_id']}  score {c['score']:.3f}")
    raise typer.Exit(1 if failed else 0)


@app.command()
def reindex(ctx: typer.Context, pack: Annotated[str | None, typer.Option(help="model pack")] = None) -> None:
    """Rebuild the FAISS indexes of both sides from the embeddings stored in the database."""
    services = _services(ctx)
    info = services.pack_info(pack)
    for side in ("child", "report"):
        index = services.indexes.rebuild(side, info.name, info.embedding_dim)
        typer.echo(f"{side}: {len(index)} faces ({info.name}, {index.mode})")


@app.command()
def stats(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of records, media and faces per side and model pack."""
    from matcher.store import repo

    services = _services(ctx)
    with services.sessions() as session:
        counts = repo.counts(session)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    for side, c in counts.items():
        packs = ", ".join(f"{k}: {v}" for k, v in c["embeddings_by_pack"].items()) or "none"
        typer.echo(f"{side}: {c['records']} records, {c['media']} media, {c['faces']} faces; embeddings {packs}")


@app.command()
def video(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="video to analyse (MP4, MOV, WebM, AVI, 3GP)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
) -> None:
    """Face tracks of a video: when each person is seen and their best faces."""
    from matcher.video import VideoOptions, analyze_video

    services = _services(ctx)
    settings = services.settings
    out: dict = {"path": str(file), "tracks": [], "warnings": []}
    try:
        size = file.stat().st_size
        if size > settings.video_max_bytes:
            from matcher.errors import FileTooLargeError

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
    except MatcherError as exc:
        if exc.status >= 500:
            raise
        out["error"] = {"code": exc.code, "message": exc.message}
    except OSError as exc:
        out["error"] = {"code": "unreadable_file", "message": f"cannot read {file}: {exc.strerror}"}
    if as_json:
        typer.echo(json.dumps(out))
    elif "error" in out:
        typer.echo(f"{file}: error: {out['error']['message']}")
    else:
        typer.echo(f"{file}: {out['duration']:.1f} s, {out['frames_sampled']} frames analysed, {len(out['tracks'])} track(s)")
        for t in out["tracks"]:
            best = max((f["quality"] for f in t["faces"]), default=0.0)
            typer.echo(f"  track {t['id']}: {t['start']:.1f}-{t['end']:.1f} s, {t['detections']} detections, best quality {best:.2f}")
        for w in out["warnings"]:
            typer.echo(f"  warning: {w}")
    raise typer.Exit(1 if "error" in out else 0)


users_app = typer.Typer(help="Accounts: family, shelter, reviewer, admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens (shown once; only their hash is stored).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


@users_app.command("add")
def users_add(ctx: typer.Context, name: str, role: Annotated[str, typer.Option(help="family | shelter | reviewer | admin")]) -> None:
    """Create an account."""
    user = _services(ctx).add_user(name, role, _actor())
    typer.echo(f"user {user['name']} ({user['role']}) created; give them a token with: matcher tokens create {user['name']}")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    for u in _services(ctx).list_users():
        typer.echo(f"{u['id']:>4}  {u['name']:<24} {u['role']:<9} {'disabled' if u['disabled'] else ''}")


@tokens_app.command("create")
def tokens_create(ctx: typer.Context, user: str, days: Annotated[float | None, typer.Option(help="lifetime (default MATCHER_TOKEN_DAYS)")] = None) -> None:
    """Create a token for USER and print it once."""
    row = _services(ctx).create_token(user, days, _actor())
    typer.echo(f"token for {row['user']} ({row['role']}), expires {row['expires_at']}, id {row['id']}:")
    typer.echo(row["token"])


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: int) -> None:
    _services(ctx).revoke_token(token_id, _actor())
    typer.echo(f"token {token_id} revoked")


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
    typer.echo(f"matcher on http://{h}:{p}  sign in: http://{h}:{p}/signin  API docs: http://{h}:{p}/docs  data: {settings.data_dir.resolve()}")
    if not services.list_users():
        typer.echo("No accounts yet. Make one and a token to sign in with (in another terminal):\n  .venv/bin/matcher users add admin --role admin && .venv/bin/matcher tokens create admin")
    uvicorn.run(api, host=h, port=p, log_level="info", server_header=False)


@app.command()
def queue(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open | unsure | awaiting_second | confirmed | rejected | all")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    kind: Annotated[str | None, typer.Option(help="match | duplicate")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The review queue, strongest (lowest false-match rate, plausible first) first."""
    rows = _services(ctx).queue(None if status == "all" else status, limit, kind)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        flags = ",".join(r["evidence"].get("flags", [])) or "-"
        typer.echo(f"#{r['id']:<5} {r['kind']:<9} report {r['report_id']:<20} child {r['child_id']:<20} score {r['score']:.3f}  fmr {r['fmr']:.2g}  {r['status']}  flags {flags}")


@app.command()
def candidate(ctx: typer.Context, candidate_id: int, reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One candidate with its evidence and both records (the view is audited)."""
    row = _services(ctx).candidate(candidate_id, reviewer or _actor(), "reviewer")
    typer.echo(json.dumps(row, indent=None if as_json else 2, default=str))


@app.command()
def decide(
    ctx: typer.Context,
    candidate_id: int,
    verdict: Annotated[str, typer.Argument(help="confirmed | rejected | unsure")],
    note: Annotated[str | None, typer.Option(help="why")] = None,
    reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None,
) -> None:
    """Record a reviewer's decision on a candidate."""
    row = _services(ctx).decide(candidate_id, verdict, reviewer or _actor(), note)
    typer.echo(f"candidate {row['id']} is now {row['status']}")


@app.command()
def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="ISO date or datetime (UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Audit events as JSON lines (who, role, action, object, time)."""
    import datetime as dt

    start = dt.datetime.fromisoformat(since) if since else None
    for event in _services(ctx).audit_events(start, limit):
        typer.echo(json.dumps(event))


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    gallery: Annotated[Path, typer.Option(help="CSV: path,identity[,age,date]; paths relative to the CSV", exists=True, dir_okay=False)],
    probes: Annotated[Path, typer.Option(help="CSV like --gallery; identities absent from it are non-mated", exists=True, dir_okay=False)],
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
    fusion: Annotated[str | None, typer.Option(help="best | support (default: MATCHER_FUSION)")] = None,
    out: Annotated[Path, typer.Option(help="folder for report.json, report.md and PNG plots")] = Path("eval-report"),
    compare: Annotated[bool, typer.Option("--compare", help="also run every ready pack x both fusion rules; one table")] = False,
) -> None:
    """Accuracy on labelled photos: CMC, DIR@FPIR, TAR@FAR, failures to enrol, plots."""
    from matcher.evaluation import runner as evaluation
    from matcher.faces.packs import list_packs, pack_state

    services = _services(ctx)
    pack = pack or services.settings.pack
    fusion = fusion or services.settings.fusion
    if fusion not in ("best", "support"):
        raise typer.BadParameter("use best or support", param_hint="--fusion")
    rules = ("best", "support") if compare else (fusion,)
    results = evaluation.evaluate(services, gallery, probes, pack, rules)
    primary = next(r for r in results if r["fusion"] == fusion)
    if compare:
        rows = [evaluation.compare_row(r) for r in results]
        for other in list_packs(services.settings.models_dir):
            if other.name == pack:
                continue
            if not pack_state(other).ready:
                typer.echo(f"skipping pack {other.name}: not installed/ready", err=True)
                continue
            rows += [evaluation.compare_row(r) for r in evaluation.evaluate(services, gallery, probes, other.name, ("best", "support"))]
        primary["compare"] = rows
    report = evaluation.write_report(primary, out)
    c = report["cmc"]
    typer.echo(
        f"{pack}/{fusion}: rank-1 {c['rank1']:.3f}  rank-5 {c['rank5']:.3f}  rank-10 {c['rank10']:.3f}  "
        f"rank-20 {c['rank20']:.3f}  rank-50 {c['rank50']:.3f}  "
        f"failures to enrol {report['failures_to_enrol']['probes']} probe(s) / {report['failures_to_enrol']['gallery']} gallery  "
        f"{report['timing_s']['total']:.1f} s"
    )
    if compare:
        typer.echo(evaluation.compare_table(report["compare"]))
    typer.echo(f"report: {out / 'report.md'}")


def run() -> None:  # pragma: no cover - console entry for python -m
    try:
        app()
    except MatcherError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
