"""Writing an evaluation's report: the comparison table, the Markdown report and the plots.

:func:`goalmatch.evaluation.crossval.evaluate` computes ``metrics``; this module renders them
(``report.md``, ``metrics.json`` and PNG plots via matplotlib's Agg backend, imported
only when plots are drawn).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write, replacing

__all__ = ["abstention_figure", "bar_check", "comparison_table", "learning_curve_figure", "legend_below", "pyplot",
           "reliability_figure", "save_figure", "write_report"]

logger = logging.getLogger(__name__)


def _headline(entry: Mapping[str, Any]) -> str:
    return "micro_f1" if entry.get("multi_label") else "macro_f1"


def comparison_table(m: Mapping[str, Any]) -> str:
    """The comparison in Markdown: one row per method, one column per cross-validated framework."""
    fids = [f for f, e in m["frameworks"].items() if "methods" in e]
    if not fids:
        return "(no framework has labelled records to cross-validate)"
    names = list(dict.fromkeys(n for f in fids for n in m["frameworks"][f]["methods"]))
    head = []
    for f in fids:
        e = m["frameworks"][f]
        head.append(f"{f} (n={e['labelled']}, {'micro' if e['multi_label'] else 'macro'}-F1 / "
                    f"{'hit@1' if e['multi_label'] else 'top-1'} / ECE)")
    lines = ["| method | " + " | ".join(head) + " |", "|---" * (len(fids) + 1) + "|"]
    for name in names:
        cells = []
        for f in fids:
            e = m["frameworks"][f]
            s = e["methods"].get(name)
            if s is None:
                cells.append("–")
                continue
            mean, std = s["mean"], s["std"]
            key, acc = _headline(e), "hit_at_1" if e["multi_label"] else "top1"
            ece = f"{mean['ece']:.2f}" if "ece" in mean else "–"
            cells.append(f"{mean[key]:.2f} ± {std[key]:.2f} / {mean[acc]:.2f} / {ece}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bar_check(m: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per framework: does goalmatch beat every baseline on its headline F1, with ECE < 0.10?

    ``verdict``: ``beats``, ``ties`` (equal to the best baseline, e.g. both at 1.00) or ``loses``.
    """
    out = {}
    for fid, e in m["frameworks"].items():
        if "methods" not in e:
            continue
        key = _headline(e)
        ours = e["methods"]["goalmatch"]["mean"]
        best = max((s["mean"][key], name) for name, s in e["methods"].items()
                   if not name.startswith("goalmatch"))
        verdict = "beats" if ours[key] > best[0] else "ties" if ours[key] == best[0] else "loses"
        out[fid] = {"metric": key, "goalmatch": ours[key], "best_baseline": best[1], "baseline": best[0],
                    "verdict": verdict, "ece": ours.get("ece"), "ece_below_0.10": ours.get("ece", 1.0) < 0.10}
    return out


# ------------------------------------------------------------------ the report folder


def write_report(m: Mapping[str, Any], out_dir: Path, table: str) -> list[Path]:
    """``metrics.json``, ``report.md`` and the PNG plots (when matplotlib is installed), each written whole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "metrics.json", out_dir / "report.md"]
    atomic_write(files[0], json.dumps(m, indent=1, ensure_ascii=False) + "\n")
    files += _plots(m, out_dir)
    atomic_write(files[1], _markdown(m, table, [f.name for f in files[2:]]))
    return files


def _markdown(m: Mapping[str, Any], table: str, plots: Sequence[str]) -> str:
    st = m["settings"]
    lines = [
        "# goalmatch evaluation", "",
        f"Encoder `{st['encoder']}`; {st['folds']}-fold stratified cross-validation repeated {st['repeats']} times "
        f"(seeds {st['seed']}–{st['seed'] + st['repeats'] - 1}){' — QUICK MODE, small sample' if st['quick'] else ''}. "
        "Cells: mean ± std over repeats of the headline F1 (macro for single-label, micro for multi-label), "
        "then top-1 accuracy (hit@1: the top goal is one of the text's), then ECE (– where the method gives "
        "scores, not probabilities). Every method is refitted on every training fold.", "", table, "",
        "## The bar: goalmatch beats every baseline, ECE < 0.10", "",
        "| framework | metric | goalmatch | best baseline | goalmatch … | ECE | ECE < 0.10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for fid, b in bar_check(m).items():
        lines.append(f"| {fid} | {b['metric']} | {b['goalmatch']:.2f} | {b['best_baseline']} {b['baseline']:.2f} | "
                     f"{b['verdict'] if b['verdict'] == 'beats' else '**' + b['verdict'] + '**'} | {b['ece']:.2f} | "
                     f"{'yes' if b['ece_below_0.10'] else '**no**'} |")
    for fid, e in m["frameworks"].items():
        lines += ["", f"## {fid}: {e['name']}", ""]
        if "methods" not in e:
            lines.append(f"{e['labelled']} labelled records: {e['skipped']}.")
            continue
        pooled = e["methods"]["goalmatch"]["pooled"]
        mean = e["methods"]["goalmatch"]["mean"]
        lines += [f"{e['labelled']} labelled records ({e['distribution']}), {e['folds']} folds.",
                  f"goalmatch at its default abstention settings answered {mean.get('answered', 0):.0%} of "
                  f"held-out texts, {mean.get('accuracy_answered') or 0:.2f} correct when answering.", "",
                  "| goal | precision | recall | F1 | support (all repeats) |", "|---|---|---|---|---|"]
        lines += [f"| {g} | {v['precision']:.2f} | {v['recall']:.2f} | {v['f1']:.2f} | {v['support']} |"
                  for g, v in pooled["per_goal"].items()]
        if "confusion" in pooled:
            ids = list(pooled["per_goal"])
            lines += ["", "Confusion (rows true, columns predicted; all repeats):", "",
                      "| | " + " | ".join(ids) + " |", "|---" * (len(ids) + 1) + "|"]
            lines += [f"| {g} | " + " | ".join(str(c) for c in row) + " |"
                      for g, row in zip(ids, pooled["confusion"], strict=True)]
        lines += ["", "Abstention curve (goalmatch, all repeats): " + ", ".join(
            f"{a['coverage']:.0%} → {a['accuracy']:.2f}" for a in pooled["abstention"])]
        lines += ["", *_curve_table(e["learning_curve"], e["multi_label"])]
    if "trail22" in m:
        t = m["trail22"]
        lines += ["", "## Agenda 2030 with TRAIL22", "",
                  f"Trained on {t['train_texts']} English TRAIL22 texts (class-balanced sample of Train_data.csv), "
                  f"tested on {t['test_texts']} TRAIL22 test texts (English → English) and on the {t['swedish_texts']} "
                  "Swedish seed records labelled for Agenda 2030 (**cross-lingual: trained on English, tested on "
                  "Swedish**). Multi-label metrics; most TRAIL22 texts carry one SDG.", ""]
        for label, rows in t["settings"].items():
            lines += [f"### {label}", "", "| method | micro-F1 | macro-F1 | hit@1 | cardinality error | ECE (pairs) | "
                      "ECE (top goal) |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {name} | {s['micro_f1']:.2f} | {s['macro_f1']:.2f} | {s['hit_at_1']:.2f} | "
                      f"{s['cardinality_error']:.2f} | {s.get('ece', '–')} | {s.get('ece_top1', '–')} |"
                      for name, s in rows.items()]
            lines += ["", *_curve_table(t["learning_curve"][label], True, "TRAIL22 texts per SDG"), ""]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in plots) if plots else "(no plots: matplotlib missing)"]
    return "\n".join(lines) + "\n"


def _curve_table(curve: Mapping[str, Any], multi: bool, what: str = "labelled projects per goal") -> list[str]:
    key = "micro_f1" if multi else "macro_f1"
    acc = "hit_at_1" if multi else "top1"
    lines = [f"Learning curve (goalmatch; {what}; 0 = the strategy texts alone):", "",
             f"| per goal | labelled used | {key} | {acc} | ECE |", "|---|---|---|---|---|"]
    for n, v in curve.items():
        lines.append(f"| {n} | {v['labelled_used']} | {v[key]:.2f} ± {v['std'][key]:.2f} | {v[acc]:.2f} | "
                     f"{v.get('ece', float('nan')):.2f} |")
    return lines


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the Agg backend; ``None``, with a warning, where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no plots (pip install 'goalmatch[eval]')")
        return None
    return plt


def _plots(m: Mapping[str, Any], out_dir: Path) -> list[Path]:
    plt = pyplot()
    if plt is None:
        return []
    panels = [(fid, e) for fid, e in m["frameworks"].items() if "methods" in e]
    if "trail22" in m:
        panels += [(f"TRAIL22: {label}", {"multi_label": True, "trail": rows})
                   for label, rows in m["trail22"]["settings"].items()]
    if not panels:
        return []
    curves = [(fid, e["learning_curve"], e["multi_label"]) for fid, e in panels if "learning_curve" in e]
    if "trail22" in m:
        curves += [(f"TRAIL22: {k}", v, True) for k, v in m["trail22"]["learning_curve"].items()]
    return [save_figure(reliability_figure(plt, panels), out_dir / "reliability.png", plt),
            save_figure(abstention_figure(plt, panels), out_dir / "abstention.png", plt),
            save_figure(learning_curve_figure(plt, curves), out_dir / "learning_curve.png", plt)]


def legend_below(fig: Any, axes: Sequence[Any], columns: int = 3) -> None:
    """One legend for the figure, under its axes, so that it covers no line (``save_figure`` keeps it in)."""
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=min(columns, len(labels)),
                   fontsize=8, frameon=False)


def reliability_figure(plt: Any, panels: Sequence[tuple[str, Mapping[str, Any]]]) -> Any:
    """Per panel, goalmatch's reliability diagram: each confidence bin's accuracy against its mean
    confidence on linear axes, the number of predictions in the bin written under its point."""
    fig, axes = _grid(plt, len(panels))
    for ax, (title, e) in zip(axes, panels, strict=False):
        s = e["trail"]["goalmatch"] if "trail" in e else e["methods"]["goalmatch"]["pooled"]
        bins = s.get("reliability", [])
        ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-",
                label="goalmatch (n = predictions in the bin)")
        for b in bins:
            ax.annotate(f"n={b['count']}", (b["confidence"], b["accuracy"]), textcoords="offset points",
                        xytext=(0, -11), ha="center", fontsize=7)
        ax.set(title=f"{title}\nECE {s.get('ece', float('nan')):.3f} (all repeats pooled)",
               xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1), ylim=(-0.06, 1.02))
        ax.title.set_fontsize(8)
    legend_below(fig, axes, columns=2)
    return fig


def abstention_figure(plt: Any, panels: Sequence[tuple[str, Mapping[str, Any]]]) -> Any:
    """Per panel, each method's accuracy on the texts it answers against the share it answers."""
    fig, axes = _grid(plt, len(panels))
    for ax, (title, e) in zip(axes, panels, strict=False):
        for name, s in (e["trail"] if "trail" in e else {k: v["pooled"] for k, v in e["methods"].items()}).items():
            curve = s["abstention"]
            ax.plot([a["coverage"] for a in curve], [a["accuracy"] for a in curve], "-", label=name)
        ax.set(title=title, xlabel="share answered", ylabel="hit@1" if e["multi_label"] else "accuracy", ylim=(0, 1.03))
        ax.title.set_fontsize(8)
    legend_below(fig, axes)
    return fig


def learning_curve_figure(plt: Any, curves: Sequence[tuple[str, Mapping[str, Any], bool]]) -> Any:
    """F1 against the labelled texts per goal, the sizes as evenly spaced categories (0, 1, 2, 5, …) on a
    linear axis, each point with its spread over repeats; the legend under the axes."""
    sizes = sorted({int(n) for _, curve, _ in curves for n in curve})
    position = {n: i for i, n in enumerate(sizes)}
    fig, ax = plt.subplots(figsize=(6, 4))
    for title, curve, multi in curves:
        key = "micro_f1" if multi else "macro_f1"
        ax.errorbar([position[int(n)] for n in curve], [v[key] for v in curve.values()],
                    [v["std"][key] for v in curve.values()], marker="o", capsize=3, label=f"{title} ({key})")
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.set(xlabel="labelled texts per goal (0 = the strategy texts alone)", ylabel="F1", ylim=(0, 1),
           title="Learning curve for a new strategy")
    ax.grid(alpha=0.3)
    legend_below(fig, [ax], columns=2)
    return fig


def _grid(plt: Any, n: int) -> tuple[Any, list[Any]]:
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat


def save_figure(fig: Any, path: Path, plt: Any) -> Path:
    """Write a figure to ``path`` whole (its format follows the suffix), cropped to what is drawn, and close it."""
    fig.tight_layout()
    with replacing(path) as tmp:  # the format follows the suffix, which the temporary name keeps
        fig.savefig(tmp, dpi=110, bbox_inches="tight")  # a legend outside the axes stays in
    plt.close(fig)
    return path
