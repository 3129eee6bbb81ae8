"""Writing a benchmark run: ``metrics.json``, ``report.md``, one learning-curve PNG per task, and
the one-screen summary :func:`goalmatch.evaluation.benchmark.run_benchmark`'s result prints.

Plots use matplotlib's Agg backend (the ``eval`` extra), imported only when they are drawn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write
from goalmatch.evaluation.benchmark_methods import GOALMATCH
from goalmatch.evaluation.report import pyplot, save_figure
from goalmatch.text.prepare import MIN_WORDS_TO_JUDGE

__all__ = ["best_baseline", "curve_figure", "short_name", "summary_lines", "write_benchmark"]


def short_name(method: str) -> str:
    """A method's name as a table column: ``nearest description (mean over pieces, query: prefix)`` →
    ``ND pieces/query``; ``… (every goal text, max, query: prefix)`` → ``ND all-max/query``."""
    m = re.fullmatch(r"nearest description \((.+), (\S+?):? prefix\)", method)
    if m:
        view = {"name + description": "one", "mean over pieces": "pieces"}.get(m.group(1), "all-max")
        return f"ND {view}/{m.group(2)}"
    return {"nearest description + self-training (backlog)": "ND + self-training",
            "embeddings + LR": "emb + LR"}.get(method, method)


def _acc(entry: Mapping[str, Any], point: str, method: str, key: str = "accuracy") -> float | None:
    s = entry["curve"].get(point, {}).get(method)
    return None if s is None else s["mean"].get(key)


def best_baseline(entry: Mapping[str, Any], point: str, key: str = "accuracy",
                  prefix: str = "") -> tuple[str, float] | None:
    """The baseline (method name starting with ``prefix``) with the best mean ``key`` at a point."""
    scored = [(v, n) for n in entry["curve"].get(point, {}) if n != GOALMATCH and n.startswith(prefix)
              if (v := _acc(entry, point, n, key)) is not None]
    if not scored:
        return None
    value, name = max(scored, key=lambda vn: vn[0])  # ties: the first in the methods' order
    return name, value


def _cell(s: Mapping[str, Any] | None, key: str) -> str:
    if s is None or s["mean"].get(key) is None:
        return "–"
    return f"{s['mean'][key]:.2f} ± {s['std'].get(key, 0.0):.2f}"


def _ece_cell(s: Mapping[str, Any] | None) -> str:
    if s is None or "ece" not in s:
        return "–"
    e = s["ece"]
    return e["why"] if e["ece"] is None else f"{e['ece']:.3f}"


# ------------------------------------------------------------------ report.md


def _metric_table(entry: Mapping[str, Any], key: str, title: str, with_best: bool = False) -> list[str]:
    methods = list(entry["methods"])
    head = ["k per goal", "labelled used", *(short_name(m) for m in methods)]
    if with_best:
        head += ["best baseline", "goalmatch − best"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for point in entry["points"]:
        row = entry["curve"][point]
        cells = [point, f"{entry['labelled_used'].get(point, 0):g}"]
        cells += [_ece_cell(row.get(m)) if key == "ece" else _cell(row.get(m), key) for m in methods]
        if with_best:
            best, ours = best_baseline(entry, point, key), _acc(entry, point, GOALMATCH, key)
            cells += [f"{short_name(best[0])} {best[1]:.2f}" if best else "–",
                      f"{ours - best[1]:+.2f}" if best and ours is not None else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _task_section(name: str, e: Mapping[str, Any]) -> list[str]:
    split = f"{e['folds']}-fold stratified partition per repeat" if e["folds"] else \
        f"its own test split ({e['test_texts']} texts)"
    lines = [f"## {name}: {e['framework_name']}", "",
             f"{e['labelled']} labelled projects over {len(e['goals'])} goals ({e['distribution']}); "
             f"{e['backlog']} further unlabelled texts; {split}; {e['repeats']} repeat(s). "
             + ("Multi-label: accuracy is hit@1 (the top goal is one of the text's)." if e["multi_label"] else ""),
             ""]
    lines += [f"- {note}" for note in e["notes"]]
    nearest = best_baseline(e, "0", prefix="nearest description (")
    if nearest:
        lines += [f"- best nearest-description variant here: {nearest[0]} ({nearest[1]:.2f}), chosen on the test "
                  "parts (which favours the baseline)"]
    lines += ["", *_metric_table(e, "accuracy", "Accuracy (mean ± sd over repeats)", with_best=True)]
    if e["multi_label"]:
        for key, title in (("micro_f1", "Micro-F1"), ("precision", "Precision (micro)"), ("recall", "Recall (micro)"),
                           ("macro_f1", "Macro-F1")):
            lines += _metric_table(e, key, title)
    else:
        lines += _metric_table(e, "macro_f1", "Macro-F1")
    lines += _metric_table(e, "top3", "Top-3 (a right goal among the 3 best)")
    lines += _metric_table(e, "log_loss", "Log-loss" + (" (binary, per goal pair)" if e["multi_label"] else ""))
    lines += _metric_table(e, "ece", "ECE of the top goal (all repeats pooled; – where scores are not probabilities)")
    lines += ["**goalmatch's abstention** (at its default settings)", "",
              "| k per goal | answered | accuracy when answering |", "|---|---|---|"]
    for point in e["points"]:
        s = e["curve"][point].get(GOALMATCH, {"mean": {}, "std": {}})
        lines.append(f"| {point} | {_cell(s, 'answered')} | {_cell(s, 'accuracy_answered')} |")
    return [*lines, "", f"![learning curve of {name}](curve-{_slug(name)}.png)", ""]


def _offtopic_section(o: Mapping[str, Any]) -> list[str]:
    versions = ("zero-shot", "zero-shot + backlog", "trained")
    lines = ["## Off-topic texts", "",
             f"{o['texts']} texts no goal fits ({', '.join(f'{k} {n}' for k, n in o['kinds'].items())}). "
             "Share on which goalmatch abstains (through a Matcher, as a user meets it):", "",
             "| framework | " + " | ".join(versions) + " | answered by the trained head |", "|---" * 5 + "|"]
    for fid, v in o["frameworks"].items():
        cells = [f"{v[x]['abstained']:.2f}" if x in v else "–" for x in versions]
        answered = v.get("trained", v.get("zero-shot + backlog", v["zero-shot"]))["answered"]
        lines.append(f"| {fid} | " + " | ".join(cells) + f" | {', '.join(answered[:12]) or '–'}"
                     f"{' …' if len(answered) > 12 else ''} |")
    sources: dict[str, list[str]] = {}
    for fid, v in o["frameworks"].items():
        if "trained" in v:
            sources.setdefault(v["trained"]["source"], []).append(fid)
    heads = "; ".join(f"{', '.join(f)}: {s}" for s, f in sources.items())
    lines += _projects_lines(o.get("projects", {}), versions)
    lines += ["", f"Texts under {MIN_WORDS_TO_JUDGE} words abstain whatever the head (the Matcher calls them too short "
              f"to judge). The trained heads: {heads}.", "",
              "By kind of text (share abstained over every framework):", "",
        "| kind | " + " | ".join(o["by_kind"]) + " |", "|---" * (len(o["by_kind"]) + 1) + "|"]
    for kind in o["kinds"]:
        lines.append(f"| {kind} | " + " | ".join(f"{o['by_kind'][v].get(kind, 0):.2f}" for v in o["by_kind"]) + " |")
    return [*lines, ""]


def _projects_lines(projects: Mapping[str, Any], versions: Sequence[str]) -> list[str]:
    """The real projects each head's support floor calls off-topic (the other side of the floor)."""
    if not projects:
        return []
    lines = ["", "Real project texts (a task's labelled projects) under the head's support floor, i.e. called "
             "off-topic; only the zero-shot head has not seen them (the others set their floor on them):", "",
             "| framework | texts | " + " | ".join(versions) + " |", "|---" * (len(versions) + 2) + "|"]
    for fid, v in projects.items():
        lines.append(f"| {fid} | {v['texts']} | " + " | ".join(f"{v[x]:.3f}" if x in v else "–" for x in versions)
                     + " |")
    return lines


def _regression_section(r: Mapping[str, Any]) -> list[str]:
    if "skipped" in r and "pairs" not in r:
        return ["## Regression set", "", f"Not scored: {r['skipped']}.", ""]
    lines = ["## Regression set", "",
             f"{r['texts']} hand-written applications, {r['pairs']} (text, framework) pairs, scored by the model "
             f"(`{r['model']}`): top suggestion expected **{r['top1']:.2f}**, expected goal in the top 3 "
             f"**{r['top3']:.2f}**, abstained on {r['abstained']:.2f}.", ""]
    if r["skipped"]:
        lines += [f"Skipped (framework not in the model): {', '.join(r['skipped'])}", ""]
    lines += [f"Misses ({len(r['misses'])}):", "", "| text | framework | expected | top 3 (probability) | abstained |",
              "|---|---|---|---|---|"]
    lines += [f"| {x['id']} | {x['framework']} | {', '.join(x['expected'])} | "
              f"{', '.join(f'{g} {p:.2f}' for g, p in x['top3'])} | {'yes' if x['abstained'] else 'no'} |"
              for x in r["misses"]]
    return [*lines, ""]


def _markdown(m: Mapping[str, Any]) -> str:
    st = m["settings"]
    enc = st["encoder"]
    lines = ["# goalmatch benchmark", "", "Reproduce with:", "", f"    {st.get('command', '(library call)')}", "",
             f"Encoder `{enc['id']}` (checksum {str(enc['checksum'])[:12]}…), seed {st['seed']}, {st['repeats']} "
             f"repeat(s), k per goal in {{{', '.join(map(str, st['sizes']))}}} then all; {st['seconds']} s"
             f"{' — QUICK MODE: small subsets, for CI; not figures to quote' if st.get('quick') else ''}.", "",
             "Points: `0` = the framework's texts alone; `0+U` = zero-shot with the task's unlabelled texts "
             "(the training pool without labels, and the task's backlog); `k` = k labelled projects per goal drawn "
             "from the training pool, the rest of the pool unlabelled; `all` = the whole pool. Every method is "
             "fitted on the same draws and scored on the same test parts. Cells: mean ± sd over repeats. "
             "ND = nearest description: `one` = one cosine to \"name. description\", `pieces` = mean cosine over "
             "the description's pieces, `all-max` = highest cosine to any of the goal's texts (names, aliases, "
             "descriptions, sub-goals: what goalmatch reads); `/query` or `/passage` = the prefix the goal texts were "
             "encoded with.", ""]
    lines += [f"- {note}" for note in st.get("notes", [])] + ([""] if st.get("notes") else [])
    files = st.get("data_files", {})
    if files:
        lines += ["| data file | sha256 |", "|---|---|", *[f"| {p} | `{h[:16]}…` |" for p, h in files.items()], ""]
    lines += ["## At a glance", "", *_glance(m), ""]
    for name, e in m["tasks"].items():
        lines += _task_section(name, e)
    if "offtopic" in m:
        lines += _offtopic_section(m["offtopic"])
    if "regression" in m:
        lines += _regression_section(m["regression"])
    return "\n".join(lines) + "\n"


def _middle(e: Mapping[str, Any]) -> str:
    ks = [p for p in e["points"] if p not in ("0", "0+U", "all")]
    return "8" if "8" in ks else (ks[len(ks) // 2] if ks else "all")


GLANCE = (("0", "nearest description ("), ("0+U", ""), ("mid", ""), ("all", ""))
"""The curve's key points in the summaries, and which baselines each compares with (ND only at 0)."""
TINY = {"ND + self-training": "ND+ST", "emb + LR": "LR", "TF-IDF + LR": "TF-IDF", "kNN vote": "kNN"}


def _tiny(method: str) -> str:
    """A method's name in the printed summary: ``ND`` for every nearest-description variant."""
    return "ND" if method.startswith("nearest description (") else TINY.get(short_name(method), short_name(method))


def _glance_cells(e: Mapping[str, Any]) -> list[tuple[str, float | None, tuple[str, float] | None]]:
    """Per key point: its name, goalmatch's accuracy, the best baseline there (name, accuracy)."""
    out = []
    for point, prefix in GLANCE:
        p = _middle(e) if point == "mid" else point
        out.append((p, _acc(e, p, GOALMATCH), best_baseline(e, p, prefix=prefix)))
    return out


def _glance(m: Mapping[str, Any]) -> list[str]:
    """goalmatch / best baseline accuracy at the curve's key points, and goalmatch's ECE with all projects."""
    lines = ["| task | 0: goalmatch / best ND | 0+U: goalmatch / best | k = 8 (or the middle k): goalmatch / best | "
             "all: goalmatch / best | goalmatch ECE (all) |", "|---|---|---|---|---|---|"]
    for name, e in m["tasks"].items():
        cells = [(f"k={p}: " if p not in ("0", "0+U", "all") else "")
                 + (f"{ours:.2f} / {best[1]:.2f} ({short_name(best[0])})" if best and ours is not None else "–")
                 for p, ours, best in _glance_cells(e)]
        lines.append(f"| {name} | " + " | ".join([*cells, _ece_cell(e["curve"]["all"].get(GOALMATCH))]) + " |")
    return lines


def summary_lines(m: Mapping[str, Any]) -> list[str]:
    """The one-screen summary: accuracy at the curve's key points, off-topic abstention, the regression share."""
    st = m["settings"]
    out = [f"goalmatch benchmark: encoder {st['encoder']['id']}, {st['repeats']} repeat(s), {st['seconds']} s"
           f"{' (quick: small subsets, not figures to quote)' if st.get('quick') else ''}",
           *st.get("notes", []), "accuracy, goalmatch/best baseline (ND = nearest description, ST = self-training):",
           f"  {'task':<32}{'0':<20}{'0+U':<20}{'k=8 (or mid)':<20}{'all':<20}ECE (all)"]
    for name, e in m["tasks"].items():
        cells = []
        for p, ours, best in _glance_cells(e):
            cell = f"{ours:.2f}/{best[1]:.2f} {_tiny(best[0])}" if best and ours is not None else "–"
            cells.append(f"{cell if p in ('0', '0+U', 'all') or cell == '–' else f'{cell} k{p}':<20}")
        out.append(f"  {name:<32}" + "".join(cells) + _ece_cell(e["curve"]["all"].get(GOALMATCH)))
    if "offtopic" in m:
        o = m["offtopic"]
        out.append(f"off-topic ({o['texts']} texts), share abstained: zero-shot / with backlog / trained:")
        projects = o.get("projects", {})
        out += [f"  {fid:<32}" + " / ".join(f"{v[x]['abstained']:.2f}" if x in v else "–"
                                          for x in ("zero-shot", "zero-shot + backlog", "trained"))
                + (f"   (real projects under the zero-shot floor: {projects[fid]['zero-shot']:.2f})"
                   if fid in projects else "")
                for fid, v in o["frameworks"].items()]
    r = m.get("regression")
    if r and "pairs" in r:
        out.append(f"regression set: top-1 {r['top1']:.2f}, top-3 {r['top3']:.2f} of {r['pairs']} (text, framework) "
                   f"pairs; {len(r['misses'])} misses (listed in report.md)")
    elif r:
        out.append(f"regression set: {r['skipped']}")
    return out


# ------------------------------------------------------------------ files


def write_benchmark(m: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """``metrics.json``, ``report.md`` and the learning-curve plots (when matplotlib is installed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "metrics.json", out_dir / "report.md"]
    atomic_write(files[0], json.dumps(m, indent=1, ensure_ascii=False) + "\n")
    atomic_write(files[1], _markdown(m))
    return files + _plots(m, out_dir)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-")


def _plots(m: Mapping[str, Any], out_dir: Path) -> list[Path]:
    plt = pyplot()
    if plt is None:
        return []
    return [save_figure(curve_figure(plt, name, e), out_dir / f"curve-{_slug(name)}.png", plt)
            for name, e in m["tasks"].items()]


def curve_figure(plt: Any, name: str, e: Mapping[str, Any]) -> Any:
    """One task's learning curves, accuracy and F1 side by side: the labelled projects per goal as evenly
    spaced categories on a linear axis (0, 1, 2, 5, …, all), the legend outside the axes."""
    f1 = "micro_f1" if e["multi_label"] else "macro_f1"
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), sharex=True)
    ticks = _draw(axes, e, ("accuracy", f1))
    for ax, key in zip(axes, ("accuracy" if not e["multi_label"] else "accuracy (hit@1)", f1), strict=True):
        ax.set(xlabel="labelled projects per goal", ylabel=key.replace("_", "-"), ylim=(0, 1.02))
        ax.set_xticks(list(ticks), list(ticks.values()), fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name}: {e['framework_name']} ({e['labelled']} projects, {len(e['goals'])} goals)", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].lower())  # a method's 0+U marker beside its line
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return fig


def _draw(axes: Sequence[Any], e: Mapping[str, Any], keys: Sequence[str]) -> dict[float, str]:
    """Every method's line on each axis (x: the points in order, evenly spaced, ``all`` last; ``0+U`` a
    hollow marker at 0); the tick positions and labels."""
    ks = sorted(int(p) for p in e["points"] if p not in ("0", "0+U", "all"))
    order = ["0", *map(str, ks), *(["all"] if "all" in e["points"] else [])]
    xs = {p: float(i) for i, p in enumerate(order)}
    per_goal = e["labelled_used"].get("all", 0) / max(1, len(e["goals"]))
    ticks = {x: (f"all\n(≈{per_goal:.0f} per goal)" if p == "all" else p) for p, x in xs.items()}
    nearest = best_baseline(e, "0", prefix="nearest description (")
    for name, when in e["methods"].items():
        if name.startswith("nearest description (") and (nearest is None or name != nearest[0]):
            continue  # only the best variant: the others are in the tables
        style = {"color": "black", "linewidth": 2.2} if name == GOALMATCH else {}
        if when == "fixed":
            style["linestyle"] = "--"
        for ax, key in zip(axes, keys, strict=True):
            pts = [(xs[p], e["curve"][p][name]) for p in e["points"] if p in xs and name in e["curve"][p]]
            pts = [(x, s) for x, s in pts if s["mean"].get(key) is not None]
            color = style.get("color")
            if pts:
                bars = ax.errorbar([x for x, _ in pts], [s["mean"][key] for _, s in pts],
                                   [s["std"].get(key, 0) for _, s in pts], marker="o", markersize=4, capsize=2,
                                   label=short_name(name), **style)
                color = bars.lines[0].get_color()
            u = e["curve"].get("0+U", {}).get(name)
            if u is not None and u["mean"].get(key) is not None and when != "fixed":
                ax.plot([0.0], [u["mean"][key]], marker="D", markersize=7, fillstyle="none", linestyle="none",
                        color=color, label=f"{short_name(name)}, 0+U (with backlog)")
    return ticks
