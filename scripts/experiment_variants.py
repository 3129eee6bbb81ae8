"""Issue 4, part 2: goalmatch variants measured on the same folds as the default (prints, asserts nothing).

    python scripts/experiment_variants.py --cache /tmp/gm-emb-cache --repeats 3 --out /tmp/variants.json \
        [--trail22 ../shared/data/trail22] [--only proto-goal,cal-projects]

Each variant is one ``goalmatch.evaluation.crossval.evaluate`` run over the shipped corpora with
``GoalClassifier`` swapped for a variant (everything else, folds and seeds included, is
the same), so the rows are comparable with each other and with ``docs/evaluation.md``:

``default``
    goalmatch as shipped.
``proto-goal``
    goal-level prototypes: one prototype per goal, the mean of all its texts (its own and
    its targets'), instead of the ``n_nearest`` best single texts.
``proto-target``, ``proto-target-top1``
    target-level prototypes: one prototype per target (the mean of its name and
    description) plus one for the goal's own texts; a goal scores by the mean of its
    ``n_nearest`` (or its single) best-matching prototypes.
``cal-projects``
    the softmax temperature (single-label) or the projects' slope and intercept
    (multi-label) refitted on the labelled projects' leave-one-out features, shrunk
    towards the joint fit (a Gaussian prior on the log scale worth ``--prior`` projects).
``posthoc-isotonic``, ``posthoc-sigmoid``, ``posthoc-temperature``
    a post-hoc map fitted on the training fold's own out-of-fold goalmatch probabilities
    (nested 5-fold CV): isotonic regression or a Platt sigmoid on the top goal's
    probability (single-label; the other goals rescaled to keep the sum 1) or on every
    (text, goal) probability (multi-label); the temperature is
    ``goalmatch.evaluation.baselines.goalmatch_recalibrated``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, log_softmax, logit

import goalmatch
from goalmatch.evaluation import baselines
from goalmatch.evaluation.baselines import (
    Context,
    Part,
    Prediction,
    goalmatch_method,
    goalmatch_recalibrated,
)
from goalmatch.evaluation.crossval import evaluate
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier

EPS = 1e-6


# ------------------------------------------------------------------ prototypes


def _sub_goal_of_texts(clf: GoalClassifier) -> list[str]:
    """For each prototype row (``goal_texts`` order), the id of the goal or target it came from."""
    out: list[str] = []
    for top in clf.framework_.goals:
        seen: set[str] = set()
        for goal in (top, *top.walk()):
            for _kind, text in goal.texts():
                if text not in seen:
                    seen.add(text)
                    out.append(goal.id)
    return out


class _Prototypes(GoalClassifier):
    """GoalClassifier whose strategy prototypes are means of texts (``mode``: goal or target)."""

    mode = "goal"

    def _fit_weights(self, primary: np.ndarray) -> None:
        if self.mode == "target" and not any(goal.children for goal in self.framework_.goals):
            super()._fit_weights(primary)  # no targets: the default prototypes
            return
        if self.mode == "none":
            super()._fit_weights(primary)  # individual texts, only n_nearest differs
            return
        owners = _sub_goal_of_texts(self)
        P, G = self.prototypes_, self.prototype_goal_
        rows, goals, kinds = [], [], []
        for g in range(len(self.classes_)):
            members = np.flatnonzero(G == g)
            groups = {"all": members} if self.mode == "goal" else {}
            if self.mode != "goal":
                for i in members:
                    groups.setdefault(owners[i], []).append(i)  # type: ignore[attr-defined]
            for idx in groups.values():
                rows.append(P[np.asarray(idx)].mean(axis=0))
                goals.append(g)
                kinds.append("description")
        self.prototypes_ = _features.unit_rows(np.asarray(rows))
        self.prototype_goal_ = np.asarray(goals, dtype=np.intp)
        self.prototype_kinds_ = tuple(kinds)
        super()._fit_weights(primary)


def _proto_class(mode: str, n_nearest: int | None = None) -> type[GoalClassifier]:
    attrs: dict[str, Any] = {"mode": mode}
    if n_nearest is not None:
        def fit(self: Any, X: Any = None, y: Any = None) -> Any:
            self.n_nearest = n_nearest
            return GoalClassifier.fit(self, X, y)
        attrs["fit"] = fit
    return type(f"Proto_{mode}_{n_nearest}", (_Prototypes,), attrs)


# ------------------------------------------------------------------ calibration on projects


class _ProjectCalibrated(GoalClassifier):
    """Refit the scale of the evidence on the labelled projects' leave-one-out features."""

    prior = 5.0

    def _fit_weights(self, primary: np.ndarray) -> None:
        super()._fit_weights(primary)
        L, T = self.labelled_, self.labelled_targets_
        if len(L) < 2 or not len(self.prototypes_):
            return
        F, _ = _features.pair_features(L, self.prototypes_, self.prototype_goal_, L, T, self.n_nearest,
                                       own_labelled=np.arange(len(L)))
        Z = F @ self.coef_
        n, prior = len(L), self.prior
        if self.multi_label_:
            b0 = self.intercept_

            def loss(theta: np.ndarray) -> float:
                s, b = np.exp(theta[0]), theta[1]
                A = s * Z + b
                nll = -(T * log_expit(A) + (1 - T) * log_expit(-A)).sum() / T.shape[1]
                return float(nll + 0.5 * prior * theta[0] ** 2 + 0.5 * prior * (b - b0) ** 2)

            theta = minimize(loss, np.array([0.0, b0]), method="L-BFGS-B").x
            self.coef_ = self.coef_ * np.exp(theta[0])
            self.intercept_ = float(theta[1])
            return
        y = primary

        def nll(t: np.ndarray) -> float:
            return float(-log_softmax(np.exp(t[0]) * Z, axis=1)[np.arange(n), y].sum() + 0.5 * prior * t[0] ** 2)

        t = minimize(nll, np.zeros(1), method="L-BFGS-B", bounds=[(-3, 3)]).x[0]
        self.coef_ = self.coef_ * np.exp(t)


def _cal_class(prior: float) -> type[GoalClassifier]:
    return type(f"ProjectCalibrated_{prior}", (_ProjectCalibrated,), {"prior": prior})


class _ProjectThreshold(GoalClassifier):
    """Multi-label: one decision threshold for all goals, the one that maximises micro-F1 over
    the labelled projects' leave-one-out probabilities (shrunk towards 0.5 by ``prior``
    pseudo-thresholds); single-label unchanged."""

    prior = 0.0

    def _fit_weights(self, primary: np.ndarray) -> None:
        super()._fit_weights(primary)
        self._loo = None
        L, T = self.labelled_, self.labelled_targets_
        if self.multi_label_ and len(L) >= 2 and len(self.prototypes_):
            F, _ = _features.pair_features(L, self.prototypes_, self.prototype_goal_, L, T, self.n_nearest,
                                           own_labelled=np.arange(len(L)))
            self._loo = (expit(F @ self.coef_ + self.intercept_), T)

    def _thresholds(self) -> np.ndarray:
        base = super()._thresholds()
        if self._loo is None:
            return base
        P, T = self._loo
        grid = np.linspace(0.05, 0.95, 91)
        f1 = []
        for t in grid:
            pred = P >= t
            tp = (pred & (T > 0)).sum()
            f1.append(2 * tp / max(pred.sum() + (T > 0).sum(), 1))
        best = float(grid[int(np.argmax(f1))])
        n = len(T)
        return np.full_like(base, (n * best + self.prior * 0.5) / (n + self.prior))


# ------------------------------------------------------------------ post-hoc maps


def _posthoc(kind: str, inner_folds: int = 5) -> baselines.Method:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    def fit_map(p: np.ndarray, right: np.ndarray) -> Any:
        if kind == "isotonic":
            iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(p, right)
            return iso.predict
        if len(np.unique(right)) < 2:
            return lambda q: q
        lr = LogisticRegression(C=1e4).fit(logit(np.clip(p, EPS, 1 - EPS))[:, None], right)
        return lambda q: lr.predict_proba(logit(np.clip(q, EPS, 1 - EPS))[:, None])[:, 1]

    def method(ctx: Context, train: Part, test: Part) -> Prediction:
        pred = goalmatch_method()(ctx, train, test)
        if len(train) < 4:
            return pred
        oof = baselines.out_of_fold(ctx, train, inner_folds)
        if ctx.multi:
            f = fit_map(oof.ravel(), train.Y.ravel().astype(float))
            P = np.clip(f(pred.P.ravel()).reshape(pred.P.shape), EPS, 1 - EPS)
            answered = pred.answered if pred.answered is not None else np.ones(len(P), dtype=bool)
            top = np.eye(ctx.k, dtype=bool)[P.argmax(axis=1)] & answered[:, None]
            return Prediction(P, (P >= 0.5) | top, True, pred.answered)
        top = oof.argmax(axis=1)
        f = fit_map(oof.max(axis=1), (top == train.primary).astype(float))
        P = pred.P.copy()
        best = P.argmax(axis=1)
        p_top = P[np.arange(len(P)), best]
        new_top = np.clip(f(p_top), EPS, 1 - EPS)
        rest = np.clip(1 - p_top, EPS, None)
        P = P * ((1 - new_top) / rest)[:, None]
        P[np.arange(len(P)), best] = new_top
        P = P / P.sum(axis=1, keepdims=True)
        return Prediction(P, pred.predicted, True, pred.answered)

    return method


# ------------------------------------------------------------------ runs


@contextlib.contextmanager
def _classifier(cls: type[GoalClassifier]) -> Iterator[None]:
    """Swap the classifier every goalmatch method of :mod:`goalmatch.evaluation.baselines` fits."""
    saved = baselines.GoalClassifier
    baselines.GoalClassifier = cls  # type: ignore[misc]
    try:
        yield
    finally:
        baselines.GoalClassifier = saved  # type: ignore[misc]


VARIANTS: dict[str, tuple[type[GoalClassifier], Any]] = {
    "default": (GoalClassifier, None),
    "proto-goal": (_proto_class("goal"), None),
    "proto-target": (_proto_class("target"), None),
    "texts-top1": (_proto_class("none", 1), None),
    "texts-top5": (_proto_class("none", 5), None),
    "proto-target-top1": (_proto_class("target", 1), None),
    "proto-target-top2": (_proto_class("target", 2), None),
    "cal-projects": (_cal_class(5.0), None),
    "cal-projects-prior0": (_cal_class(0.0), None),
    "cal-projects-prior1": (_cal_class(1.0), None),
    "cal-projects-prior2": (_cal_class(2.0), None),
    "cal-projects-prior20": (_cal_class(20.0), None),
    "thr-projects": (_ProjectThreshold, None),
    "thr-projects-prior5": (type("ProjectThreshold5", (_ProjectThreshold,), {"prior": 5.0}), None),
    "posthoc-isotonic": (GoalClassifier, "isotonic"),
    "posthoc-sigmoid": (GoalClassifier, "sigmoid"),
    "posthoc-temperature": (GoalClassifier, "temperature"),
}

HEADLINE = ("macro_f1", "micro_f1", "top1", "hit_at_1", "ece", "nll", "cardinality_error")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fid, entry in metrics["frameworks"].items():
        m = entry.get("methods", {})
        for name in ("goalmatch", "goalmatch + TRAIL22"):
            if name in m:
                out[f"{fid} / {name}"] = {k: m[name]["mean"].get(k) for k in HEADLINE if k in m[name]["mean"]}
    for label, by_method in metrics.get("trail22", {}).get("settings", {}).items():
        g = by_method.get("goalmatch", {})
        out[f"trail22 {label} / goalmatch"] = {k: g.get(k) for k in HEADLINE if k in g}
    return out


def _texts(records: list[Any], kind: str) -> list[Any]:
    import dataclasses

    from goalmatch.text.prepare import prepare
    from goalmatch.text.repair import break_like_pdf

    if kind == "clean":
        return records
    out = []
    for i, r in enumerate(records):
        text = break_like_pdf(r.text, i)
        out.append(dataclasses.replace(r, text=prepare(text).text if kind == "repaired" else text))
    return out


def _all(metrics: dict[str, Any]) -> dict[str, Any]:
    """Every method's headline figures per framework (for ``--baselines``)."""
    return {fid: {name: {k: m["mean"].get(k) for k in HEADLINE if k in m["mean"]}
                  for name, m in entry.get("methods", {}).items()}
            for fid, entry in metrics["frameworks"].items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default="/tmp/gm-emb-cache")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trail22", default=None)
    parser.add_argument("--only", default=None, help="comma-separated variant names")
    parser.add_argument("--text", choices=("clean", "broken", "repaired"), default="clean",
                        help="the project texts as shipped, broken like seed 003's PDF "
                             "(goalmatch.text.repair.break_like_pdf, every line), or broken and then "
                             "prepared as goalmatch does in use (goalmatch.text.prepare.prepare)")
    parser.add_argument("--baselines", action="store_true", help="also run every baseline")
    parser.add_argument("--frameworks", default=None, help="comma-separated framework ids (default: all)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    fws, records = goalmatch.frameworks(), _texts(goalmatch.load_corpora(), args.text)
    if args.frameworks:
        fws = {fid: fws[fid] for fid in args.frameworks.split(",")}
    results: dict[str, Any] = {}
    names = args.only.split(",") if args.only else list(VARIANTS)
    for name in names:
        cls, post = VARIANTS[name]
        methods = dict(baselines.METHODS) if args.baselines else {"goalmatch": goalmatch_method()}
        if post == "temperature":
            methods = {"goalmatch": goalmatch_recalibrated()}
        elif post is not None:
            methods = {"goalmatch": _posthoc(post)}
        start = time.perf_counter()
        with _classifier(cls):
            report = evaluate(fws, records, repeats=args.repeats, cache_dir=args.cache, trail22=args.trail22,
                              methods=methods, progress=False)
        results[name] = {"seconds": round(time.perf_counter() - start, 1), "text": args.text,
                         "figures": _all(report.metrics) if args.baselines else headline(report.metrics)}
        print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
