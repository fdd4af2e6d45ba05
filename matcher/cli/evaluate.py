"""``matcher eval``: accuracy on labelled photos (see ``matcher.evaluation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import get_services


def eval_command(
    ctx: typer.Context,
    gallery: Annotated[Path, typer.Option(help="CSV: path,identity[,age,date]; paths relative to the CSV", exists=True, dir_okay=False)],
    probes: Annotated[Path, typer.Option(help="CSV like --gallery; identities absent from it are non-mated", exists=True, dir_okay=False)],
    pack: Annotated[str | None, typer.Option(help="model pack (default: MATCHER_PACK)")] = None,
    fusion: Annotated[str | None, typer.Option(help="best | support (default: MATCHER_FUSION)")] = None,
    out: Annotated[Path, typer.Option(help="folder for report.json, report.md and PNG plots")] = Path("eval-report"),
    compare: Annotated[
        bool, typer.Option("--compare", help="also run the accuracy levers (each alone and together) and every ready pack x both fusion rules")
    ] = False,
    distractors: Annotated[
        int, typer.Option(min=0, max=100_000, help="add this many synthetic identities (nobody) to the gallery: figures at an archive's scale")
    ] = 0,
) -> None:
    """Accuracy on labelled photos: CMC, DIR@FPIR, TAR@FAR, failures to enrol, plots."""
    # heavy: models, FAISS, matplotlib
    from matcher.evaluation import levers, report, runner
    from matcher.faces.packs import list_packs, pack_state

    services = get_services(ctx)
    pack = pack or services.settings.pack
    fusion = fusion or services.settings.fusion
    if fusion not in ("best", "support"):
        raise typer.BadParameter("use best or support", param_hint="--fusion")
    rules = ("best", "support") if compare else (fusion,)
    results = runner.evaluate(services, gallery, probes, pack, rules, distractors=distractors)
    primary = next(r for r in results if r["fusion"] == fusion)
    if compare:
        rows = [report.compare_row(r) for r in results]
        for other in list_packs(services.settings.models_dir):
            if other.name == pack:
                continue
            if not pack_state(other).ready:
                typer.echo(f"skipping pack {other.name}: not installed/ready", err=True)
                continue
            rows += [report.compare_row(r) for r in runner.evaluate(services, gallery, probes, other.name, ("best", "support"), distractors=distractors)]
        primary["compare"] = rows
        primary["levers_compare"] = [
            report.lever_row(runner.evaluate(services, gallery, probes, pack, ("best",), lv, distractors)[0])
            for lv in levers.variants(services.settings.norm_top_k, services.settings.rank_cohort_k)
        ]
    written = report.write_report(primary, out)
    c = written["cmc"]
    typer.echo(
        f"{pack}/{fusion}: rank-1 {c['rank1']:.3f}  rank-5 {c['rank5']:.3f}  rank-10 {c['rank10']:.3f}  "
        f"rank-20 {c['rank20']:.3f}  rank-50 {c['rank50']:.3f}  "
        f"failures to enrol {written['failures_to_enrol']['probes']} probe(s) / {written['failures_to_enrol']['gallery']} gallery  "
        f"{written['timing_s']['total']:.1f} s"
    )
    if compare:
        typer.echo(report.compare_table(written["compare"]))
        typer.echo(report.levers_table(written["levers_compare"]))
    typer.echo(f"report: {out / 'report.md'}")
