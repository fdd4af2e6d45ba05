"""PNG plots (matplotlib, Agg backend: no display needed).

matplotlib is imported on first use (``_pyplot``), not at import time: it takes about half a
second and most callers of the evaluation and web code never draw.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from matcher.evaluation.metrics import cmc
from matcher.review.calibration import Calibration
from matcher.types import CandidateStatus


def _pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---- matcher eval: CMC, DET, score histograms ----------------------------------------------
def write_plots(result: dict, out: Path) -> list[str]:
    """``cmc.png``, ``det.png`` and ``scores_hist.png`` of one eval result into ``out``."""
    plt = _pyplot()
    curves = result["_curves"]
    n_ids = max(1, result["counts"]["gallery_identities"])
    written = []
    title = f"{result['pack']} / {result['fusion']}"

    fig, ax = plt.subplots(figsize=(6, 4))
    curve = cmc(curves["ranks"], n_ids)
    ax.plot(np.arange(1, n_ids + 1), curve, marker=".")
    ax.set(xlabel="rank", ylabel="identification rate", title=f"CMC ({title})", ylim=(0, 1.02), xscale="log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "cmc.png", dpi=100)
    plt.close(fig)
    written.append("cmc.png")

    gen, imp = curves["genuine"], curves["impostor"]
    fig, ax = plt.subplots(figsize=(6, 4))
    if imp.size and gen.size:
        thr = np.unique(np.concatenate([imp, gen[np.isfinite(gen)]]))[::-1]
        far = np.array([np.mean(imp > t) for t in thr])
        frr = np.array([np.mean(~(gen > t)) for t in thr])
        floor = 0.5 / imp.size
        ax.plot(np.maximum(far, floor), frr, drawstyle="steps-post")
    ax.set(xscale="log", xlabel="false accept rate (impostor pairs)", ylabel="false reject rate", title=f"DET ({title})")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "det.png", dpi=100)
    plt.close(fig)
    written.append("det.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    raw = (result.get("levers") or {}).get("score_norm", "none") == "none"
    both = np.concatenate([imp[np.isfinite(imp) & (imp > -100)], gen[np.isfinite(gen) & (gen > -100)]])  # -1000: implausible pairs
    bins = np.linspace(-0.4, 1.0, 57) if raw or not both.size else np.linspace(float(both.min()), float(both.max()) + 1e-6, 57)
    imp = imp[np.isfinite(imp) & (imp > -100)]
    if imp.size:
        ax.hist(imp, bins=bins, density=True, alpha=0.5, label=f"impostor (n={imp.size})")
    g = gen[np.isfinite(gen)]
    if g.size:
        ax.hist(g, bins=bins, density=True, alpha=0.5, label=f"genuine (n={g.size})")
    if raw:
        ax.axvline(result["same_person_threshold"], color="k", ls="--", lw=1, label="pack same-person hint")
    ax.set(xlabel="fused cosine score" if raw else "S-normalised score", ylabel="density", title=f"Scores ({title})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scores_hist.png", dpi=100)
    plt.close(fig)
    written.append("scores_hist.png")
    return written


# ---- admin "model health" page: PNG bytes from data ``matcher.services.health`` returns ----
# matplotlib's object API (``Figure``), not pyplot: no global figure state shared between
# concurrent requests.
def _health_figure():
    from matplotlib.figure import Figure  # on first use, like ``_pyplot``

    return Figure(figsize=(7, 3.6))


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def decided_scores_png(rows: list[tuple[str, float]]) -> bytes:
    """Histogram of fused scores of confirmed vs rejected candidates; ``rows`` are (status, score)."""
    fig = _health_figure()
    ax = fig.add_subplot()
    for status, colour in ((CandidateStatus.CONFIRMED, "#1b7a3a"), (CandidateStatus.REJECTED, "#b3261e")):
        values = [score for st, score in rows if st == status]
        if values:
            ax.hist(values, bins=30, range=(0, 1), alpha=0.6, color=colour, label=f"{status} ({len(values)})")
    if not rows:
        ax.text(0.5, 0.5, "no decided candidates yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend()
    ax.set_xlabel("fused score")
    ax.set_ylabel("candidates")
    ax.set_title("Scores of confirmed vs rejected candidates")
    return _png_bytes(fig)


def _score_at(cal: Calibration, fmr: float, lo: float, hi: float) -> float:
    """Smallest score in [lo, hi] whose rate is at most ``fmr`` (bisection; ``fmr`` is monotone).
    ``Calibration.threshold`` searches cosines (up to 2) only; S-normalised scores run further."""
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cal.fmr(mid) > fmr else (lo, mid)
    return hi


def impostors_png(cal: Calibration | None, pair_fmr: float) -> bytes:
    """The impostor scores a calibration was measured on, the false-match rate curve they imply
    and the strong-lead threshold at the per-pair rate ``pair_fmr`` (``QUEUE_FPIR / N``, see
    ``services.health``); a placeholder when there is no calibration."""
    fig = _health_figure()
    ax = fig.add_subplot()
    if cal is None or not cal.sorted_scores:
        ax.text(0.5, 0.5, "no calibration yet", ha="center", va="center", transform=ax.transAxes)
        return _png_bytes(fig)
    scores = np.asarray(cal.sorted_scores)
    ax.hist(scores, bins=40, color="#5a6b7d", alpha=0.7, label=f"impostor pairs ({cal.n_pairs})")
    ax.set_xlabel("S-normalised score" if cal.normalised else "fused score (cosine)")
    ax.set_ylabel("impostor pairs")
    ax2 = ax.twinx()
    t = _score_at(cal, pair_fmr, float(scores.min()), float(scores.max()) + 50.0) if cal.normalised else cal.threshold(pair_fmr)
    hi = max(float(scores.max()), t) + 0.5 if cal.normalised else 1.0  # normalised scores run past 1
    xs = np.linspace(float(scores.min()), hi, 200)
    ax2.semilogy(xs, [cal.fmr(x) for x in xs], color="#1f4e99", label="false-match rate (per pair)")
    ax2.set_ylabel("false-match rate")
    ax2.axvline(t, color="#b3261e", linestyle="--", label=f"strong-lead threshold {t:.2f} (per-pair FMR {pair_fmr:.2g})")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax2.legend(lines, [h.get_label() for h in lines], loc="upper right", fontsize=8)
    ax.set_title(f"Impostor distribution used for calibration ({cal.pack}, {cal.n_records} records)")
    return _png_bytes(fig)
