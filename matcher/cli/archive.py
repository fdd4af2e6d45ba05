"""Commands on the stored archive and its indexes: ``index``, ``search``, ``reindex``, ``stats``."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import SideChoice, actor, get_services, per_file
from matcher.types import Role


def index_archive(
    ctx: typer.Context,
    archive: Annotated[Path | None, typer.Argument(help="folder with one sub-folder per record (folder name = record number)")] = None,
    manifest: Annotated[Path | None, typer.Option(help="CSV: record_id,path[,name,sex,birth_year,shelter,found_on,found_at,notes]")] = None,
    side: Annotated[SideChoice, typer.Option(help="children (shelter archive) or reports (bulk-load family reports)")] = SideChoice.children,
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
    from matcher.ingest.batch import import_archive  # heavy: models, database, FAISS

    if (archive is None) == (manifest is None):
        raise typer.BadParameter("give either an ARCHIVE folder or --manifest CSV")
    services = get_services(ctx)
    bar, tick = _progress_bar() if progress and not as_json else (nullcontext(), None)
    with bar:
        result = import_archive(
            services,
            manifest or archive,
            side.record_side,
            actor(),
            manifest=manifest is not None,
            pack=pack,
            workers=workers,
            chunk=chunk,
            report_path=report,
            allow_erased=allow_erased,
            match=match,
            progress=tick,
        )
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    s = result.summary
    typer.echo(
        f"photos {s.photos}: new {s.new_media}, skipped {s.skipped} (already stored), failed {s.failed}, "
        f"no face {s.no_face}; faces {s.faces}; records {s.records}; {s.seconds:.1f} s"
    )
    if s.report:
        typer.echo(f"problems listed in {s.report}")
    if match:
        typer.echo(f"matching: {result.candidates_touched} candidate(s) created or updated for review")


def _progress_bar():
    """A transient rich progress bar and the ``tick(done, total)`` that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} photos/s"), TimeRemainingColumn())
    bar = Progress(*columns, transient=True)
    task = bar.add_task("index", total=None, rate="-")

    def tick(done: int, total: int) -> None:
        elapsed = bar.tasks[0].elapsed or 1e-9
        bar.update(task, completed=done, total=total, rate=f"{done / elapsed:.1f}")

    return bar, tick


def search(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="query photos")],
    top: Annotated[int, typer.Option(min=1, max=1000, help="records per photo")] = 20,
    side: Annotated[SideChoice, typer.Option(help="which side to search")] = SideChoice.children,
    pack: Annotated[str | None, typer.Option(help="model pack")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per photo")] = False,
    name: Annotated[str | None, typer.Option(help="the child's name as known, any script: a matching name ranks first within the list")] = None,
    birth_year: Annotated[int | None, typer.Option(help="birth year or estimate: implausible ages rank last")] = None,
    sex: Annotated[str | None, typer.Option(help="F or M")] = None,
    age: Annotated[float | None, typer.Option(help="the child's age in the photo, years")] = None,
) -> None:
    """Search the index with photos: records ranked as for reviewers (normalised score, age and
    name as the settings say), audited."""
    services = get_services(ctx)
    from matcher.services.search import QueryFacts  # heavy (FAISS); keeps `matcher --help` fast

    facts = QueryFacts(name, birth_year, sex, age)
    failed = 0
    for path in photos:
        out: dict = {"query": str(path), "faces": 0, "candidates": []}

        def work(out=out, path=path) -> None:
            analyzed, candidates = services.search.photo(services.read_file(path), side.record_side, top, actor(), Role.STAFF, pack, facts=facts)
            out["faces"] = len(analyzed.faces)
            out["candidates"] = [c.as_dict() for c in candidates]

        failed += per_file(path, out, work)
        if as_json:
            typer.echo(json.dumps(out))
        elif "error" in out:
            typer.echo(f"{path}: error: {out['error']['message']}")
        else:
            typer.echo(f"{path}: {out['faces']} face(s)")
            for rank, c in enumerate(out["candidates"], start=1):
                extra = f"  name {c['name']}" if c.get("name") else ""
                flag = "  (implausible age/sex)" if c.get("plausible") is False else ""
                typer.echo(f"  {rank:3d}. record {c['record_id']}  score {c['score']:.3f} (cosine {c['raw_score']:.3f}){extra}{flag}")
    raise typer.Exit(1 if failed else 0)


def reindex(ctx: typer.Context, pack: Annotated[str | None, typer.Option(help="model pack")] = None) -> None:
    """Rebuild the FAISS indexes of both sides from the embeddings stored in the database."""
    services = get_services(ctx)
    info = services.pack_info(pack)
    for side in ("child", "report"):
        index = services.indexes.rebuild(side, info.name, info.embedding_dim)
        typer.echo(f"{side}: {len(index)} faces ({info.name}, {index.mode})")
    lists = services.review.refresh_cohorts(info.name)
    typer.echo(f"cohorts for the rank score and normalisation: {lists} lists recomputed; every open report's list searched again")


def stats(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of records, media and faces per side and model pack."""
    from matcher.store import repo  # heavy: SQLAlchemy

    services = get_services(ctx)
    with services.sessions() as session:
        counts = repo.counts(session)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    for side, c in counts.items():
        packs = ", ".join(f"{k}: {v}" for k, v in c["embeddings_by_pack"].items()) or "none"
        typer.echo(f"{side}: {c['records']} records, {c['media']} media, {c['faces']} faces; embeddings {packs}")
