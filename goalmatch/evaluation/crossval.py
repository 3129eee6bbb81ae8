"""Honest evaluation: repeated stratified cross-validation of goalmatch beside baselines.

    report = evaluate(goalmatch.frameworks(), goalmatch.load_corpora(), out_dir="reports/eval",
                      trail22="../shared/data/trail22", cache_dir="/tmp/gm-emb-cache")
    report.table()        # the comparison in Markdown; report.metrics: every figure

For every framework with labelled records: ``repeats`` runs of stratified ``folds``-fold
cross-validation (stratified on the primary goal), each with its own seed. In every fold
each method (:data:`goalmatch.evaluation.baselines.METHODS`) is fitted afresh on the training fold:
examples, calibration weights, support floor and thresholds come from the training fold,
the framework's texts and the records *not* labelled for that framework (never from a
test-fold record). A repeat's out-of-fold predictions cover every record once; metrics
are computed per repeat and reported as mean and standard deviation over repeats, and
once more on all repeats pooled (per-goal figures, confusion, reliability bins).

Learning curve: per framework, goalmatch fitted on 0 (the strategy texts alone), 1, 2, 4,
8 labelled projects per goal drawn from each training fold (as many as it holds), scored
on the test fold.

Agenda 2030 with TRAIL22 (English): a class-balanced sample of its Train_data.csv (at
most ``per_goal`` texts per SDG) and its own Test_data.csv: trained on the sample, tested
on the test file (English → English); the same models tested on the Swedish records
labelled for Agenda 2030 (**cross-lingual**, English → Swedish); and in the Swedish
cross-validation a ``goalmatch + TRAIL22`` row (the shipped model's recipe).

Every distinct text is encoded once (:class:`goalmatch.embed.cache.EmbeddingCache`, on
disk with ``cache_dir``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.data.trail22 import TRAIL22_FRAMEWORK, trail22_folder
from goalmatch.evaluation import metrics as metrics
from goalmatch.evaluation.baselines import METHODS, Context, Method, Part, Prediction, goalmatch_method
from goalmatch.evaluation.report import comparison_table, write_report
from goalmatch.model.classifier import goal_texts

__all__ = ["Report", "evaluate"]

logger = logging.getLogger(__name__)

CURVE_SIZES = (0, 1, 2, 4, 8)
TRAIL22_CURVE_SIZES = (0, 1, 2, 4, 8, 16, 32)
SCALARS = ("top1", "top3", "macro_f1", "micro_f1", "hit_at_1", "cardinality_error", "ece", "ece_top1", "nll",
           "answered", "accuracy_answered")


@dataclass
class Report:
    """The figures of one evaluation (``metrics``, JSON-ready) and the files written."""

    metrics: dict[str, Any]
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    def table(self) -> str:
        """The comparison table in Markdown: one row per method, one column per framework."""
        return comparison_table(self.metrics)


# ------------------------------------------------------------------ the run


def evaluate(
    frameworks: Mapping[str, Framework] | Iterable[Framework],
    records: Iterable[Record],
    *,
    encoder: Any = None,
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    quick: bool = False,
    trail22: str | Path | None = None,
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    per_goal: int = 100,
    methods: Mapping[str, Method] | None = None,
    progress: bool = True,
) -> Report:
    """Cross-validate goalmatch and the baselines on every framework with labelled records.

    ``trail22``: the TRAIL22 folder (``Train_data.csv``, ``Test_data.csv``), for Agenda
    2030. ``quick``: 2 folds, 1 repeat, at most 12 labelled records per framework, 4
    TRAIL22 texts per SDG and 60 test texts, curve sizes up to 2: the whole path in
    little time (CI). ``params``: GoalClassifier parameters per framework id. ``methods``:
    the methods compared (default :data:`goalmatch.evaluation.baselines.METHODS`; one named ``goalmatch``).
    ``out_dir``: write ``metrics.json``, ``report.md`` and PNG plots there.
    """
    fws = dict(frameworks) if isinstance(frameworks, Mapping) else {fw.id: fw for fw in frameworks}
    records = list(records)
    if folds < 2 or repeats < 1:
        raise ValueError(f"folds must be at least 2 and repeats at least 1, got {folds} and {repeats}")
    curve_sizes: tuple[int, ...] = CURVE_SIZES
    t22_sizes: tuple[int, ...] = TRAIL22_CURVE_SIZES
    cap: int | None = None
    if quick:
        folds, repeats, cap, per_goal = 2, 1, 12, min(per_goal, 4)
        curve_sizes, t22_sizes = (0, 1, 2), (0, 1, 2)
    t22 = trail22_folder(Path(trail22), per_goal, 60 if quick else None) \
        if trail22 is not None and TRAIL22_FRAMEWORK in fws else None
    cache = _encode_all(encoder, cache_dir, fws, records, t22)
    embedded = _embedded(cache, records)
    compared = dict(methods if methods is not None else METHODS)
    out: dict[str, Any] = {
        "settings": {"folds": folds, "repeats": repeats, "seed": seed, "quick": quick,
                     "encoder": getattr(cache.encoder, "id", type(cache.encoder).__name__),
                     "methods": list(compared), "curve_sizes": list(curve_sizes)},
        "frameworks": {},
    }
    bar = _progress(progress)
    for fid, fw in fws.items():
        rows = [r for r in records if r.labels_for(fid)]
        rows = _capped(rows, fid, cap) if cap is not None else rows
        entry = out["frameworks"][fid] = {"name": fw.name, "multi_label": fw.multi_label, "labelled": len(rows)}
        if len(rows) < 2 or (not fw.multi_label and len({r.labels_for(fid)[0] for r in rows}) < 2):
            entry["skipped"] = "fewer than 2 labelled records (or one goal only): nothing to cross-validate"
            continue
        part = _part(fw, rows, embedded)
        ctx = Context(fw, cache, _unlabelled(records, fid, embedded), params=dict((params or {}).get(fid, {})))
        these = dict(compared)
        if t22 is not None and fid == TRAIL22_FRAMEWORK:
            ctx.extra = _part(fw, t22[0], _embedded(cache, t22[0]))
            these["goalmatch + TRAIL22"] = goalmatch_method(extra=True)
        splits = _splits(part, folds, repeats, seed)
        entry.update(folds=min(folds, len(part)), distribution=_distribution(fw, part),
                     methods=_cross_validate(ctx, part, splits, these, bar, fid),
                     learning_curve=_learning_curve(ctx, part, splits, curve_sizes, seed, bar, fid))
    if t22 is not None:
        out["trail22"] = _trail22(fws[TRAIL22_FRAMEWORK], cache, t22, records, embedded, t22_sizes, seed, bar,
                                  dict((params or {}).get(TRAIL22_FRAMEWORK, {})))
    bar.close()
    cache.save()
    out["settings"]["texts_encoded"] = cache.encoded
    report = Report(out)
    if out_dir is not None:
        report.out_dir = Path(out_dir)
        report.files = write_report(out, report.out_dir, report.table())
    return report


def _encode_all(encoder: Any, cache_dir: str | Path | None, fws: Mapping[str, Framework], records: Sequence[Record],
                t22: tuple[list[Record], list[Record]] | None) -> Any:
    """An embedding cache that holds every distinct text of the run, encoded in one call."""
    from goalmatch.embed.cache import EmbeddingCache

    if encoder is None:
        from goalmatch.embed.encoder import Encoder

        encoder = Encoder()
    cache = EmbeddingCache(encoder, cache_dir)
    texts = [r.text for r in records] + [t for fw in fws.values() for t in goal_texts(fw)[0]]
    if t22 is not None:
        texts += [r.text for r in t22[0]] + [r.text for r in t22[1]]
    cache.encode(list(dict.fromkeys(texts)))
    cache.save()
    return cache


def _embedded(cache: Any, rows: Sequence[Record]) -> dict[str, np.ndarray]:
    """Each record's embedding by id (from the cache: encoded already)."""
    if not rows:
        return {}
    return {r.id: v for r, v in zip(rows, cache.encode([r.text for r in rows]), strict=True)}


def _distribution(fw: Framework, part: Part) -> dict[str, int]:
    """Records per primary goal, for goals that have any."""
    counts = np.bincount(part.primary, minlength=len(fw.goals))
    return {fw.goal_ids[g]: int(c) for g, c in enumerate(counts) if c}


def _progress(enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=0, desc="evaluate", unit="fit", disable=not enabled)


def _capped(rows: list[Record], fid: str, cap: int) -> list[Record]:
    """At most ``cap`` records, taken round-robin over primary goals (so every goal stays)."""
    by_goal: dict[str, list[Record]] = {}
    for r in rows:
        by_goal.setdefault(r.labels_for(fid)[0], []).append(r)
    out: list[Record] = []
    while len(out) < min(cap, len(rows)):
        for group in by_goal.values():
            if group and len(out) < cap:
                out.append(group.pop(0))
    return out


def _part(fw: Framework, rows: Sequence[Record], embedded: Mapping[str, np.ndarray]) -> Part:
    return Part.of(fw, rows, np.vstack([embedded[r.id] for r in rows]))


def _unlabelled(records: Sequence[Record], fid: str, embedded: Mapping[str, np.ndarray]) -> np.ndarray:
    rows = [embedded[r.id] for r in records if not r.labels_for(fid)]
    dim = len(next(iter(embedded.values()))) if embedded else 0
    return np.vstack(rows).astype(np.float64) if rows else np.zeros((0, dim))


def _splits(part: Part, folds: int, repeats: int, seed: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per repeat, the (train, test) index pairs: stratified on the primary goal (a goal with
    fewer records than folds is spread as far as it goes), or plain shuffled k-fold where
    no goal has as many records as there are folds."""
    n_splits = min(folds, len(part))
    out = []
    for r in range(repeats):
        counts = np.bincount(part.primary)
        if counts[counts > 0].max() >= n_splits:
            splitter: Any = StratifiedKFold(n_splits, shuffle=True, random_state=seed + r)
        else:
            splitter = KFold(n_splits, shuffle=True, random_state=seed + r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "least populated class has only 1 member"
            out.append(list(splitter.split(part.E, part.primary)))
    return out


def _score(ctx: Context, part: Part, pred: Prediction) -> dict[str, Any]:
    names = list(ctx.framework.goal_ids)
    if ctx.multi:
        m = metrics.multi_label(part.Y, pred.P, pred.predicted, names, probabilistic=pred.probabilistic)
    else:
        m = metrics.single_label(part.primary, pred.P, names, probabilistic=pred.probabilistic)
    if pred.answered is not None:
        right = (pred.predicted & part.Y).any(axis=1) if ctx.multi else pred.P.argmax(1) == part.primary
        m["answered"] = round(float(pred.answered.mean()), 3)
        m["accuracy_answered"] = round(float(right[pred.answered].mean()), 3) if pred.answered.any() else None
    return m


def _pool(preds: Sequence[Prediction]) -> Prediction:
    answered = None if preds[0].answered is None else np.concatenate([p.answered for p in preds])  # type: ignore[misc]
    return Prediction(np.vstack([p.P for p in preds]), np.vstack([p.predicted for p in preds]),
                      preds[0].probabilistic, answered)


def _summary(per_repeat: Sequence[dict[str, Any]], pooled: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"mean": {}, "std": {}}
    for key in SCALARS:
        values = [m[key] for m in per_repeat if m.get(key) is not None]
        if values:
            out["mean"][key] = round(float(np.mean(values)), 3)
            out["std"][key] = round(float(np.std(values)), 3)
    out["pooled"] = pooled
    return out


def _cross_validate(ctx: Context, part: Part, splits: list[list[tuple[np.ndarray, np.ndarray]]],
                    methods: Mapping[str, Method], bar: Any, fid: str) -> dict[str, Any]:
    bar.total += len(methods) * sum(len(s) for s in splits)
    bar.set_description(f"cross-validating {fid}")
    oof: dict[str, list[Prediction]] = {name: [] for name in methods}
    per_repeat: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
    for repeat in splits:
        order = np.concatenate([test for _, test in repeat])
        for name, method in methods.items():
            preds = []
            for train, test in repeat:
                if set(train.tolist()) & set(test.tolist()):  # pragma: no cover - a bug, not a data error
                    raise AssertionError("a test-fold record is in its training fold")
                preds.append(method(ctx, part.take(train), part.take(test)))
                bar.update()
            pred = _pool(preds)
            back = np.argsort(order)  # out-of-fold rows back in record order
            pred = Prediction(pred.P[back], pred.predicted[back], pred.probabilistic,
                              None if pred.answered is None else pred.answered[back])
            oof[name].append(pred)
            per_repeat[name].append(_score(ctx, part, pred))
    whole = _tile(part, len(splits))
    return {name: _summary(per_repeat[name], _score(ctx, whole, _pool(oof[name]))) for name in methods}


def _tile(part: Part, times: int) -> Part:
    return part.take(np.tile(np.arange(len(part)), times))


def _sample(part: Part, rows: np.ndarray, n: int, rng: np.random.Generator, k: int) -> np.ndarray:
    """Up to ``n`` rows per goal (of a text's goals; primary for single-label) from ``rows``."""
    chosen: list[int] = []
    for g in range(k):
        have = [i for i in rows if part.Y[i, g] and i not in chosen]
        if have:
            chosen.extend(rng.permutation(have)[:n].tolist())
    return np.asarray(sorted(set(chosen)), dtype=np.intp)


def _learning_curve(ctx: Context, part: Part, splits: list[list[tuple[np.ndarray, np.ndarray]]],
                    sizes: Sequence[int], seed: int, bar: Any, fid: str) -> dict[str, Any]:
    bar.total += len(sizes) * sum(len(s) for s in splits)
    bar.set_description(f"learning curve {fid}")
    zero, fitted = goalmatch_method(zero_shot=True), goalmatch_method()
    out: dict[str, Any] = {}
    for n in sizes:
        scores, used = [], []
        for r, repeat in enumerate(splits):
            rng = np.random.default_rng(seed + 1000 * r + n)
            preds, order = [], []
            for train, test in repeat:
                rows = _sample(part, train, n, rng, ctx.k) if n else np.zeros(0, dtype=np.intp)
                used.append(len(rows))
                method = fitted if len(rows) else zero
                preds.append(method(ctx, part.take(rows), part.take(test)))
                order.append(test)
                bar.update()
            pred = _pool(preds)
            scores.append(_score(ctx, part.take(np.concatenate(order)), pred))
        out[str(n)] = {**_summary(scores, {})["mean"], "std": _summary(scores, {})["std"],
                       "labelled_used": round(float(np.mean(used)), 1)}
    return out


# ------------------------------------------------------------------ TRAIL22


def _trail22(fw: Framework, cache: Any, t22: tuple[list[Record], list[Record]], records: Sequence[Record],
             embedded: Mapping[str, np.ndarray], sizes: Sequence[int], seed: int, bar: Any,
             params: Mapping[str, Any]) -> dict[str, Any]:
    train_rows, test_rows = t22
    emb = _embedded(cache, [*train_rows, *test_rows])
    train, test = _part(fw, train_rows, emb), _part(fw, test_rows, emb)
    swedish = [r for r in records if r.labels_for(fw.id)]
    sv = _part(fw, swedish, embedded) if swedish else None
    ctx = Context(fw, cache, _unlabelled(records, fw.id, embedded), params=dict(params))
    targets = {"english test (TRAIL22 Test_data)": test}
    if sv is not None:
        targets["swedish seed records (cross-lingual)"] = sv
    bar.total += (len(METHODS) + sum(3 if n else 1 for n in sizes)) * len(targets)
    bar.set_description("TRAIL22")
    out: dict[str, Any] = {"train_texts": len(train), "test_texts": len(test),
                           "swedish_texts": len(swedish), "settings": {}, "learning_curve": {}}
    for label, target in targets.items():
        out["settings"][label] = {}
        for name, method in METHODS.items():
            out["settings"][label][name] = _score(ctx, target, method(ctx, train, target))
            bar.update()
    for label, target in targets.items():
        curve: dict[str, Any] = {}
        for n in sizes:
            scores, used = [], []
            for r in range(3 if n else 1):
                rng = np.random.default_rng(seed + r)
                rows = _sample(train, np.arange(len(train)), n, rng, len(fw.goals)) if n else np.zeros(0, np.intp)
                used.append(len(rows))
                method = goalmatch_method(zero_shot=not len(rows))
                scores.append(_score(ctx, target, method(ctx, train.take(rows), target)))
                bar.update()
            curve[str(n)] = {**_summary(scores, {})["mean"], "std": _summary(scores, {})["std"],
                             "labelled_used": round(float(np.mean(used)), 1)}
        out["learning_curve"][label] = curve
    return out
