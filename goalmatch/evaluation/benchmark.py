"""``goalmatch benchmark``: goalmatch as it ships against baselines, on data that looks like the job.

    from goalmatch.evaluation.benchmark import load_benchmark, run_benchmark
    tasks, sets = load_benchmark(quick=True)             # the shared data and the checkout's sets
    result = run_benchmark(tasks, **sets, out_dir="reports/benchmark", cache_dir="/tmp/gm-cache")
    lines = result.summary()                             # the one-screen summary, as lines

Per task (:mod:`goalmatch.evaluation.benchmark_tasks`) one **learning curve**, every method on
the same splits: ``0`` (the framework's texts alone), ``0+U`` (zero-shot with the task's
unlabelled texts: the training pool without its labels, and the task's backlog), then ``k``
labelled projects per goal drawn from the training pool (a goal with fewer takes all it has),
and ``all`` (the whole pool). A repeat is one stratified partition of the task into ``folds``
test parts, each scored by methods fitted on the other parts; a task with its own test split
(TRAIL22) keeps it and draws the training projects again per repeat. From ``k >= 1`` the
rest of the pool stays available unlabelled, as a backlog does in batch scoring. Figures are
the mean and standard deviation over repeats; ECE is computed on the predictions of all
repeats pooled, where they cover at least 100 distinct texts. Methods:
:mod:`goalmatch.evaluation.benchmark_methods`; the off-topic and regression sets:
:mod:`goalmatch.evaluation.benchmark_checks`; the files: :mod:`goalmatch.evaluation.benchmark_report`.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.errors import BadInput
from goalmatch.evaluation.baselines import Context, Part, Prediction
from goalmatch.evaluation.benchmark_checks import offtopic_abstention, projects_off_topic, regression_scores, side_heads
from goalmatch.evaluation.benchmark_methods import Entry, benchmark_methods, methods_table, with_prefix
from goalmatch.evaluation.benchmark_report import summary_lines, write_benchmark
from goalmatch.evaluation.benchmark_tasks import OffTopic, Regression, Task
from goalmatch.evaluation.metrics import pooled_ece, scalar_scores

__all__ = ["SIZES", "Benchmark", "learning_curve", "run_benchmark"]

logger = logging.getLogger(__name__)

SIZES = (1, 2, 4, 8, 16, 32)
"""Labelled projects per goal on the learning curve (then ``all``)."""


@dataclass
class Benchmark:
    """The figures of one run (``metrics``, JSON-ready) and the files written."""

    metrics: dict[str, Any]
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    def summary(self) -> list[str]:
        """A one-screen summary: per task the curve's key points, the off-topic and regression shares."""
        return summary_lines(self.metrics)


def run_benchmark(
    tasks: Sequence[Task], *, encoder: Any = None, cache_dir: str | Path | None = None,
    sizes: Sequence[int] = SIZES, repeats: int = 3, seed: int = 0, offtopic: Sequence[OffTopic] = (),
    frameworks: Mapping[str, Framework] | None = None, backlogs: Mapping[str, Sequence[str]] | None = None,
    regression: Sequence[Regression] = (), model: Any = None, out_dir: str | Path | None = None,
    settings: Mapping[str, Any] | None = None, progress: bool = True,
) -> Benchmark:
    """Run every task's learning curve, then the off-topic and regression sets; write ``out_dir``.

    ``encoder``: the encoder measured (``Encoder()`` when None), behind an embedding cache kept
    in ``cache_dir``. ``offtopic``: texts no goal fits; their abstention is measured in every
    task's framework and in ``frameworks`` (e.g. the shipped ones; ``backlogs``: unlabelled
    project texts per framework id), zero-shot, zero-shot with the backlog and trained (the
    ``model``'s head where it has the framework, else fitted on the task's projects).
    ``regression``: hand-written applications scored by ``model`` (a Matcher). ``settings``:
    recorded in metrics.json as they are (data files, command line).
    """
    if repeats < 1 or any(k < 1 for k in sizes):
        raise BadInput(f"repeats and sizes must be at least 1, got {repeats} and {list(sizes)}")
    started = time.perf_counter()
    cache = _cache(encoder, cache_dir)
    passage = with_prefix(cache, "passage: ")
    _encode_all(cache, tasks, offtopic, backlogs or {})
    m: dict[str, Any] = {"settings": {**dict(settings or {}), "sizes": list(sizes), "repeats": repeats, "seed": seed,
                                      "encoder": _encoder_info(cache.encoder)}, "tasks": {}}
    bar = _progress(progress)
    for task in tasks:
        t0 = time.perf_counter()
        m["tasks"][task.name] = learning_curve(task, cache, passage, sizes=sizes, repeats=repeats, seed=seed, bar=bar)
        m["tasks"][task.name]["seconds"] = round(time.perf_counter() - t0, 1)
    bar.close()
    fws = {**dict(frameworks or {}), **{t.framework.id: t.framework for t in tasks}}
    if offtopic:
        heads = side_heads(fws, tasks, backlogs or {}, model, cache)
        m["offtopic"] = offtopic_abstention(offtopic, heads, cache)
        m["offtopic"]["projects"] = projects_off_topic(heads, tasks, cache)
    if regression and model is not None:
        m["regression"] = regression_scores(regression, model, cache)
    elif regression:
        m["regression"] = {"skipped": "no model to score the regression set with"}
    cache.save()
    passage.save()
    m["settings"]["texts_encoded"] = cache.encoded + passage.encoded
    m["settings"]["seconds"] = round(time.perf_counter() - started, 1)
    result = Benchmark(m)
    if out_dir is not None:
        result.out_dir = Path(out_dir)
        result.files = write_benchmark(m, result.out_dir)
    return result


def _cache(encoder: Any, cache_dir: str | Path | None) -> Any:
    from goalmatch.embed.cache import EmbeddingCache

    if encoder is None:
        from goalmatch.embed.encoder import Encoder

        encoder = Encoder()
    return EmbeddingCache(encoder, cache_dir)


def _encoder_info(encoder: Any) -> dict[str, Any]:
    return {"id": getattr(encoder, "id", type(encoder).__name__), "checksum": getattr(encoder, "checksum", None),
            "prefix": getattr(encoder, "prefix", None)}


def _encode_all(cache: Any, tasks: Sequence[Task], offtopic: Sequence[OffTopic],
                backlogs: Mapping[str, Sequence[str]]) -> None:
    """Every distinct text of the run in one encoder call (the cache keeps them)."""
    texts = [r.text for t in tasks for r in (*t.records, *t.test)] + [x for t in tasks for x in t.backlog]
    texts += [o.text for o in offtopic] + [x for b in backlogs.values() for x in b]
    cache.encode(list(dict.fromkeys(texts)))
    cache.save()


def _progress(enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=0, desc="benchmark", unit="fit", disable=not enabled)


# ------------------------------------------------------------------ one task's curve


def _part(fw: Framework, records: Sequence[Record], cache: Any) -> Part:
    return Part.of(fw, records, cache.encode([r.text for r in records]))


def _splits(task: Task, part: Part, repeats: int, seed: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per repeat, (training pool, test part) index pairs: a stratified partition into ``task.folds``
    parts (plain shuffled folds where no goal has that many projects); with the task's own test
    split, the whole pool and no test indices (the test part is the task's)."""
    if task.test:
        return [[(np.arange(len(part)), np.zeros(0, dtype=np.intp))] for _ in range(repeats)]
    n = min(task.folds, len(part))
    if n < 2:
        raise BadInput(f"task {task.name}: {len(part)} labelled projects, {task.folds} folds: nothing to hold out")
    counts = np.bincount(part.primary)
    out = []
    for r in range(repeats):
        splitter: Any = StratifiedKFold(n, shuffle=True, random_state=seed + r) if counts.max() >= n \
            else KFold(n, shuffle=True, random_state=seed + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "the least populated class has only 1 member"
            out.append(list(splitter.split(part.E, part.primary)))
    return out


def _points(part: Part, splits: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]], sizes: Sequence[int]
            ) -> tuple[list[str], list[int]]:
    """The curve's points, and the sizes left out because every goal's pool is already exhausted by then."""
    most = max(int(part.Y[pool].sum(axis=0).max()) for repeat in splits for pool, _ in repeat)
    kept = [k for k in sizes if k < most]
    return ["0", "0+U", *map(str, kept), "all"], [k for k in sizes if k >= most]


def _draw(part: Part, pool: np.ndarray, k: int | None, rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` pool rows per goal (of a text's goals; the primary one for single-label); all with None."""
    if k is None:
        return np.sort(pool)
    chosen: set[int] = set()
    for g in range(part.Y.shape[1]):
        have = [int(i) for i in pool if part.Y[i, g] and int(i) not in chosen]
        chosen.update(rng.permutation(have)[:k].tolist())
    return np.asarray(sorted(chosen), dtype=np.intp)


def _runs(entry: Entry, point: str) -> bool:
    """Does the method run at this point of the curve (see :class:`Entry`)?"""
    return {"always": True, "fixed": True, "backlog": point == "0+U", "labelled": point not in ("0", "0+U")}[entry.when]


def learning_curve(task: Task, cache: Any, passage: Any, *, sizes: Sequence[int] = SIZES, repeats: int = 3,
                   seed: int = 0, bar: Any = None) -> dict[str, Any]:
    """One task's learning curve, every method on the same splits (see the module docstring)."""
    fw = task.framework
    pool_part = _part(fw, task.records, cache)
    test_part = _part(fw, task.test, cache) if task.test else None
    dim = pool_part.E.shape[1]
    backlog = np.asarray(cache.encode(list(task.backlog)), dtype=np.float64).reshape(len(task.backlog), dim)
    entries = benchmark_methods(fw, cache, passage)
    splits = _splits(task, pool_part, repeats, seed)
    points, beyond = _points(pool_part, splits, sizes)
    target = test_part if test_part is not None else pool_part
    runs = _Runs(task, pool_part, target, backlog, entries, cache)
    if bar is not None:
        bar.total += len(splits) * len(splits[0]) * sum(sum(_runs(e, p) for e in entries.values()) for p in points)
        bar.set_description(f"benchmark {task.name}")
    scores: dict[tuple[str, str], list[dict[str, Any]]] = {}
    pooled: dict[tuple[str, str], list[Prediction]] = {}
    for r, repeat in enumerate(splits):
        for point in points:
            for name, pred in runs.repeat(r, repeat, point, seed, bar).items():
                s = scalar_scores(target.Y, target.primary, pred.P, pred.predicted, multi=fw.multi_label,
                                  probabilistic=pred.probabilistic, answered=pred.answered)
                scores.setdefault((point, name), []).append(s)
                pooled.setdefault((point, name), []).append(pred)
    curve = {p: {n: _summary(scores[p, n], pooled[p, n], target, fw.multi_label) for n in entries if (p, n) in scores}
             for p in points}
    return {
        "framework": fw.id, "framework_name": fw.name, "multi_label": fw.multi_label, "goals": list(fw.goal_ids),
        "labelled": len(task.records), "test_texts": len(task.test), "backlog": len(task.backlog),
        "folds": task.folds if not task.test else None, "repeats": repeats,
        "distribution": {fw.goal_ids[g]: int(c) for g, c in enumerate(pool_part.Y.sum(axis=0))},
        "notes": [*task.notes, *runs.notes(beyond)], "files": dict(task.files), "methods": methods_table(entries),
        "points": points, "labelled_used": runs.used(), "exhausted": runs.exhausted(), "curve": curve,
    }


def _summary(per_repeat: Sequence[Mapping[str, Any]], preds: Sequence[Prediction], target: Part,
             multi: bool) -> dict[str, Any]:
    """Mean and standard deviation over repeats of every figure; ECE on all repeats pooled."""
    out: dict[str, Any] = {"mean": {}, "std": {}}
    for key in per_repeat[0]:
        values = [s[key] for s in per_repeat if s.get(key) is not None]
        if values:
            out["mean"][key] = round(float(np.mean(values)), 3)
            out["std"][key] = round(float(np.std(values)), 3)
    if preds[0].probabilistic:
        times = len(preds)
        out["ece"] = pooled_ece(np.tile(target.Y, (times, 1)), np.tile(target.primary, times),
                                np.vstack([p.P for p in preds]), multi=multi, distinct=len(target))
    return out


class _Runs:
    """Fits every method at one point of one repeat, remembering what does not change between points."""

    def __init__(self, task: Task, pool: Part, target: Part, backlog: np.ndarray, entries: Mapping[str, Entry],
                 cache: Any) -> None:
        self.task, self.pool, self.target, self.backlog, self.entries, self.cache = \
            task, pool, target, backlog, entries, cache
        self.memo: dict[tuple[Any, ...], Prediction] = {}
        self.sizes: dict[str, list[int]] = {}
        self.short: dict[str, set[str]] = {}

    def repeat(self, r: int, folds: Sequence[tuple[np.ndarray, np.ndarray]], point: str, seed: int,
               bar: Any) -> dict[str, Prediction]:
        """Every method's predictions for the whole target at ``point`` (out-of-fold with folds)."""
        out: dict[str, list[tuple[np.ndarray, Prediction]]] = {}
        own_split = bool(self.task.test)
        for f, (pool, test) in enumerate(folds):
            test_rows = np.arange(len(self.target)) if own_split else test
            k = None if point in ("0+U", "all") else int(point) if point != "0" else 0
            rng = np.random.default_rng([seed, r, f, k or 0])
            drawn = _draw(self.pool, pool, k, rng) if point not in ("0", "0+U") else np.zeros(0, dtype=np.intp)
            self._note(point, pool, drawn, k)
            rest = np.setdiff1d(pool, drawn)
            U = np.zeros((0, self.pool.E.shape[1])) if point == "0" else np.vstack([self.pool.E[rest], self.backlog])
            ctx = Context(self.task.framework, self.cache, U)
            train, test_part = self.pool.take(drawn), self.target.take(test_rows)
            deterministic = own_split and point in ("0", "0+U", "all")
            for name, entry in self.entries.items():
                if not _runs(entry, point):
                    continue
                fixed = entry.when == "fixed"  # the same at every point: fitted once per test part
                key: tuple[Any, ...] = (name, f) if fixed else (name, f, point)
                key += () if own_split and (fixed or deterministic) else (r,)
                if key not in self.memo:
                    self.memo[key] = entry.method(ctx, train, test_part)
                if bar is not None:
                    bar.update()
                out.setdefault(name, []).append((test_rows, self.memo[key]))
        return {name: _assemble(parts, len(self.target)) for name, parts in out.items()}

    def _note(self, point: str, pool: np.ndarray, drawn: np.ndarray, k: int | None) -> None:
        self.sizes.setdefault(point, []).append(len(drawn))
        if k:
            counts = self.pool.Y[pool].sum(axis=0)
            self.short.setdefault(point, set()).update(
                self.task.framework.goal_ids[g] for g in np.flatnonzero(counts < k))

    def used(self) -> dict[str, float]:
        """Mean number of labelled projects a fit saw, per point."""
        return {p: round(float(np.mean(v)), 1) for p, v in self.sizes.items()}

    def exhausted(self) -> dict[str, list[str]]:
        """Per point, the goals whose pool held fewer than k projects (in some test part): all were taken."""
        return {p: sorted(v) for p, v in self.short.items() if v}

    def notes(self, beyond: Sequence[int]) -> list[str]:
        out = [f"k = {p}: {', '.join(sorted(v))} had " + ("no project in some training pool" if p == "1" else
               f"fewer than {p} projects in some training pool (all they had were taken)")
               for p, v in self.short.items() if v]
        if beyond:
            out.append(f"k = {', '.join(map(str, beyond))} left out: no goal has that many projects in a training "
                       "pool, so the point equals 'all'")
        return out


def _assemble(parts: Sequence[tuple[np.ndarray, Prediction]], n: int) -> Prediction:
    """Out-of-fold predictions back in target order."""
    first = parts[0][1]
    k = first.P.shape[1]
    P, predicted = np.zeros((n, k)), np.zeros((n, k), dtype=bool)
    answered = None if first.answered is None else np.zeros(n, dtype=bool)
    for rows, pred in parts:
        P[rows], predicted[rows] = pred.P, pred.predicted
        if answered is not None and pred.answered is not None:
            answered[rows] = pred.answered
    return Prediction(P, predicted, first.probabilistic, answered)
