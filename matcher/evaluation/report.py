"""``matcher eval`` output: report.json, report.md (with the pack x fusion comparison table)."""

from __future__ import annotations

import json
from pathlib import Path

from matcher.evaluation.metrics import RANKS
from matcher.evaluation.plots import write_plots


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def compare_row(result: dict) -> dict:
    return {
        "pack": result["pack"],
        "fusion": result["fusion"],
        **dict(result["cmc"].items()),
        "dir_at_fpir_0.01": result["dir_at_fpir"]["0.01"]["dir"],
        "tar_at_far_0.001": result["tar_at_far"]["0.001"]["tar"],
        "failures_to_enrol": result["failures_to_enrol"]["probes"] + result["failures_to_enrol"]["gallery"],
        "seconds": result["timing_s"]["total"],
    }


def compare_table(rows: list[dict]) -> str:
    head = "| pack | fusion | rank-1 | rank-5 | rank-10 | rank-20 | rank-50 | DIR@FPIR 1% | TAR@FAR 1e-3 | FTE | s |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['fusion']} | {_pct(r['rank1'])} | {_pct(r['rank5'])} | {_pct(r['rank10'])} | "
            f"{_pct(r['rank20'])} | {_pct(r['rank50'])} | {_pct(r['dir_at_fpir_0.01'])} | "
            f"{_pct(r['tar_at_far_0.001'])} | {r['failures_to_enrol']} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def lever_row(result: dict) -> dict:
    t = result["timing_s"]
    return {
        "levers": result["levers"]["name"],
        **dict(result["cmc"].items()),
        "dir_at_fpir_0.01": result["dir_at_fpir"]["0.01"]["dir"],
        "embed_s": round(t["embed_gallery"] + t["embed_probes"], 2),
        "embedded": t["embedded"],
        "rank_s": t["search_and_fuse"],
    }


def levers_table(rows: list[dict]) -> str:
    """Each accuracy lever alone and together, on the same photos (docs/matching.md, "Accuracy levers")."""
    lines = ["| levers | rank-1 | rank-5 | rank-10 | rank-20 | DIR@FPIR 1% | embedding s (photos embedded) | ranking s |", "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['levers']} | {_pct(r['rank1'])} | {_pct(r['rank5'])} | {_pct(r['rank10'])} | {_pct(r['rank20'])} | "
            f"{_pct(r['dir_at_fpir_0.01'])} | {r['embed_s']:.1f} ({r['embedded']}) | {r['rank_s']:.3f} |"
        )
    return "\n".join(lines)


def report_markdown(result: dict) -> str:
    c, fte, t = result["counts"], result["failures_to_enrol"], result["timing_s"]
    lines = [
        f"# matcher eval: {result['pack']} / fusion {result['fusion']}",
        "",
        f"Gallery `{result['gallery_csv']}`: {c['gallery_photos']} photos, {c['gallery_faces']} with a face, "
        f"{c['gallery_identities']} identities. Probes `{result['probes_csv']}`: {c['probes']} "
        f"({c['mated_probes']} mated, {c['nonmated_probes']} non-mated).",
        "",
        "## Closed-set identification (CMC, mated probes; no-face probes count as misses)",
        "",
        "| rank-1 | rank-5 | rank-10 | rank-20 | rank-50 |",
        "|---|---|---|---|---|",
        "| " + " | ".join(_pct(result["cmc"][f"rank{r}"]) for r in RANKS) + " |",
        "",
        "## Open-set (DIR at FPIR; non-mated probes set the threshold)",
        "",
        "| FPIR | DIR | threshold | resolved by data |",
        "|---|---|---|---|",
    ]
    for k, v in result["dir_at_fpir"].items():
        thr = "n/a" if v["threshold"] is None else f"{v['threshold']:.3f}"
        lines.append(f"| {k} | {_pct(v['dir'])} | {thr} | {'yes' if v['resolved'] else 'no'} |")
    lines += [
        "",
        f"## Verification (TAR at FAR; {c['genuine_scores']} genuine, {c['impostor_scores']} impostor probe-identity pairs)",
        "",
        "| FAR | TAR | threshold | resolved by data |",
        "|---|---|---|---|",
    ]
    for k, v in result["tar_at_far"].items():
        thr = "n/a" if v["threshold"] is None else f"{v['threshold']:.3f}"
        lines.append(f"| {k} | {_pct(v['tar'])} | {thr} | {'yes' if v['resolved'] else 'no'} |")
    lines += [
        "",
        "A rate is *not resolved* when there are fewer than 1/rate negatives: the figure shown is then the",
        "zero-false-accept one (stricter than asked).",
        "",
        f"## Failures to enrol: {fte['probes']} probe(s), {fte['gallery']} gallery photo(s)",
        "",
    ]
    for row in fte["probe_photos"]:
        lines.append(f"- probe `{row['path']}` ({row['identity']}): {row['reason']}")
    for row in fte["gallery_photos"]:
        lines.append(f"- gallery `{row['path']}` ({row['identity']}): {row['reason']}")
    if fte["gallery_identities_without_face"]:
        lines.append(f"- gallery identities with no usable face: {', '.join(fte['gallery_identities_without_face'])}")
    if "by_age_gap" in result:
        lines += ["", "## By age gap (years, probe vs nearest-aged gallery photo of the same identity)", ""]
        lines += ["| gap | probes | rank-1 | rank-10 | rank-50 | TAR@FAR 1e-2 |", "|---|---|---|---|---|---|"]
        for name, b in result["by_age_gap"].items():
            lines.append(
                f"| {name} | {b['probes']} | {_pct(b['cmc']['rank1'])} | {_pct(b['cmc']['rank10'])} | "
                f"{_pct(b['cmc']['rank50'])} | {_pct(b['tar_at_far']['0.01']['tar'])} |"
            )
    else:
        lines += ["", "No age-gap split: the CSVs carry no ages."]
    lines += [
        "",
        f"## Timing: {t['total']:.1f} s total (embedding gallery {t['embed_gallery']:.1f} s, probes "
        f"{t['embed_probes']:.1f} s, search+fusion {t['search_and_fuse']:.2f} s; {t['embedded']} embedded, "
        f"{t['cache_hits']} from cache)",
        "",
        "Plots: `cmc.png`, `det.png`, `scores_hist.png`.",
    ]
    if "compare" in result:
        lines += ["", "## Comparison (same gallery and probes)", "", compare_table(result["compare"])]
    if "levers_compare" in result:
        lines += ["", "## Accuracy levers (same gallery and probes)", "", levers_table(result["levers_compare"])]
    return "\n".join(lines) + "\n"


def write_report(result: dict, out: Path) -> dict:
    """Write report.json, report.md and plots; returns the JSON-ready report."""
    out.mkdir(parents=True, exist_ok=True)
    result = dict(result)
    result["plots"] = write_plots(result, out)
    report = {k: v for k, v in result.items() if not k.startswith("_")}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    return report
