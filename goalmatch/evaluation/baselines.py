"""The methods an evaluation compares: goalmatch's GoalClassifier and the baselines beside it.

Every method maps ``(context, train, test)`` to a :class:`Prediction` with scores in the
framework's goal order. Methods see embeddings, never the encoder, except through
``context.embed`` (a cache: each distinct text is encoded once per run). A method learns
from ``train`` and the framework's own texts only; ``test`` labels are never read here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier, goal_texts

__all__ = ["METHODS", "Context", "Part", "Prediction", "fit_goalmatch", "goalmatch_method", "goalmatch_recalibrated",
           "top_m"]


@dataclass(frozen=True, eq=False)
class Part:
    """Labelled texts: ``texts``, embeddings ``E`` (n, d), 0/1 goals ``Y`` (n, k), ``primary`` (n,)."""

    texts: list[str]
    E: np.ndarray
    Y: np.ndarray
    primary: np.ndarray
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows: Any) -> Part:
        rows = np.asarray(rows, dtype=np.intp)
        return Part([self.texts[i] for i in rows], self.E[rows], self.Y[rows], self.primary[rows],
                    [self.ids[i] for i in rows] if self.ids else [])

    @classmethod
    def of(cls, fw: Framework, records: Sequence[Record], E: np.ndarray) -> Part:
        """``records`` labelled for ``fw``, with their embeddings ``E`` (record order): 0/1 goals
        (single-label: the primary goal only) and the primary goal of each."""
        index = {g: i for i, g in enumerate(fw.goal_ids)}
        Y = np.zeros((len(records), len(index)), dtype=bool)
        primary = np.zeros(len(records), dtype=np.intp)
        for i, r in enumerate(records):
            goals = [index[g] for g in r.labels_for(fw.id)]
            Y[i, goals if fw.multi_label else goals[:1]] = True
            primary[i] = goals[0]
        E = np.asarray(E, dtype=np.float64).reshape(len(records), -1)
        return cls([r.text for r in records], E, Y, primary, [r.id for r in records])

    def labels(self, goal_ids: tuple[str, ...], multi: bool) -> list[list[str]]:
        """Labels as GoalClassifier takes them: lists of goal ids, primary first."""
        out = []
        for y, p in zip(self.Y, self.primary, strict=True):
            ids = [goal_ids[p]] + [goal_ids[g] for g in np.flatnonzero(y) if g != p]
            out.append(ids if multi else ids[:1])
        return out


@dataclass(eq=False)
class Context:
    """What a method may use besides its training part: the framework, an embedding function
    (``embed(texts) -> (n, d)``), unlabelled project embeddings (never test texts), extra
    labelled training texts (TRAIL22) and GoalClassifier parameters."""

    framework: Framework
    embed: Any
    unlabelled: np.ndarray
    extra: Part | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    _strategy: np.ndarray | None = None

    @property
    def multi(self) -> bool:
        return self.framework.multi_label

    @property
    def k(self) -> int:
        return len(self.framework.goals)

    def strategy(self) -> tuple[np.ndarray, np.ndarray]:
        texts, goal, _ = goal_texts(self.framework)
        if self._strategy is None:
            self._strategy = _features.unit_rows(np.asarray(self.embed.encode(texts), dtype=np.float64))
        return self._strategy, goal


@dataclass(frozen=True, eq=False)
class Prediction:
    """Scores ``P`` (n, k) (probabilities when ``probabilistic``), the predicted 0/1 goals
    ``predicted`` (n, k) and, where the method can abstain, ``answered`` (n,)."""

    P: np.ndarray
    predicted: np.ndarray
    probabilistic: bool = True
    answered: np.ndarray | None = None


Method = Callable[[Context, Part, Part], Prediction]


def _single(P: np.ndarray) -> np.ndarray:
    return np.eye(P.shape[1], dtype=bool)[P.argmax(axis=1)] if len(P) else np.zeros(P.shape, dtype=bool)


def _finish(ctx: Context, P: np.ndarray, probabilistic: bool = True) -> Prediction:
    """Single-label: the argmax. Multi-label: every goal at 0.5 or more, and the top goal
    always (an LR per goal over many goals rarely reaches 0.5; never answering would make
    a baseline look worse than it is)."""
    predicted = ((P >= 0.5) | _single(P)) if ctx.multi else _single(P)
    return Prediction(P, predicted, probabilistic)


def majority(ctx: Context, train: Part, test: Part) -> Prediction:
    """The training part's goal frequencies: single-label predicts the commonest primary goal,
    multi-label every goal on at least half of the training texts (at least the commonest)."""
    if ctx.multi:
        freq = train.Y.mean(axis=0)
    else:
        freq = np.bincount(train.primary, minlength=ctx.k) / max(len(train), 1)
    return _finish(ctx, np.tile(freq, (len(test), 1)))


def _lemmas(text: str) -> list[str]:
    from goalmatch.text.lemmas import lemmatize

    return [p.text for p in lemmatize(text)]


def _logistic(A: Any, B: Any, train: Part, ctx: Context) -> np.ndarray:
    """LR per goal (multi-label) or multinomial with balanced class weights (single-label)."""
    P = np.zeros((B.shape[0], ctx.k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if ctx.multi:
            for g in range(ctx.k):
                y = train.Y[:, g].astype(int)
                if 0 < y.sum() < len(y):
                    P[:, g] = LogisticRegression(C=1.0, max_iter=2000).fit(A, y).predict_proba(B)[:, 1]
                else:
                    P[:, g] = y.mean() if len(y) else 0.0
            return P
        present = np.unique(train.primary)
        if len(present) < 2:
            P[:, present[0]] = 1.0
            return P
        model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(A, train.primary)
        P[:, model.classes_] = model.predict_proba(B)
    return P


def tfidf_lr(ctx: Context, train: Part, test: Part) -> Prediction:
    """TF-IDF over lemmas (``goalmatch.text.lemmas.lemmatize``) + logistic regression, labelled texts only."""
    vec = TfidfVectorizer(analyzer=_lemmas, sublinear_tf=True)
    A = vec.fit_transform(train.texts)
    return _finish(ctx, _logistic(A, vec.transform(test.texts), train, ctx))


def encoder_lr(ctx: Context, train: Part, test: Part) -> Prediction:
    """The same encoder's embeddings + logistic regression, labelled texts only."""
    return _finish(ctx, _logistic(_features.unit_rows(train.E), _features.unit_rows(test.E), train, ctx))


def nearest_description(ctx: Context, train: Part, test: Part) -> Prediction:
    """Zero-shot: the goal with the most similar strategy text (max cosine). Scores are
    cosines, not probabilities; multi-label predicts the top ``m`` goals, ``m`` the
    training part's mean label count (rounded, at least 1)."""
    S, goal = ctx.strategy()
    sims = _features.unit_rows(np.asarray(test.E, dtype=np.float64)) @ S.T
    P = np.stack([sims[:, goal == g].max(axis=1) for g in range(ctx.k)], axis=1) if len(test) else np.zeros((0, ctx.k))
    return Prediction(P, top_m(P, train) if ctx.multi else _single(P), probabilistic=False)


def top_m(P: np.ndarray, train: Part) -> np.ndarray:
    """Each row's ``m`` highest-scored goals (0/1), ``m`` the training part's mean label count
    (rounded, at least 1; 1 without training texts): multi-label answers from mere scores."""
    m = max(1, round(float(train.Y.sum(axis=1).mean()))) if len(train) else 1
    predicted = np.zeros(P.shape, dtype=bool)
    for i, row in enumerate(P):
        predicted[i, np.argsort(-row, kind="stable")[:m]] = True
    return predicted


def goalmatch_method(zero_shot: bool = False, extra: bool = False, **override: Any) -> Method:
    """GoalClassifier fitted on the training part (plus the unlabelled project texts for its
    support floor; with ``extra``, the context's extra texts as in ``Matcher.train``, the head
    adapting itself to the project texts: ``GoalClassifier.fit``'s ``corpus``). Zero-shot: the
    strategy texts alone."""

    def method(ctx: Context, train: Part, test: Part) -> Prediction:
        clf = fit_goalmatch(ctx, train, zero_shot=zero_shot, extra=extra, **override)
        E = np.asarray(test.E, dtype=np.float64)
        P = np.asarray(clf.predict_proba(E))
        decided = clf.predict(E)
        index = {g: i for i, g in enumerate(clf.classes_)}
        if ctx.multi:
            predicted = np.zeros(P.shape, dtype=bool)
            for i, goals in enumerate(decided):
                predicted[i, [index[g] for g in goals]] = True
            answered = np.array([bool(goals) for goals in decided])
            return Prediction(P, predicted, True, answered)
        answered = np.array([g is not None for g in decided])
        return Prediction(P, _single(P), True, answered)

    return method


def fit_goalmatch(ctx: Context, train: Part, *, zero_shot: bool = False, extra: bool = False,
                  **override: Any) -> GoalClassifier:
    """A fresh GoalClassifier for one training part (see :func:`goalmatch_method`)."""
    params = {**dict(ctx.params), **override}
    fw = ctx.framework
    X = [ctx.unlabelled]
    y: list[Any] = [None] * len(ctx.unlabelled)
    labels = train.labels(fw.goal_ids, ctx.multi)
    X.append(train.E)
    y += [None] * len(train) if zero_shot else labels
    corpus = None
    if extra and ctx.extra is not None and not zero_shot:
        X.append(ctx.extra.E)
        corpus = np.arange(len(y) + len(ctx.extra)) < len(y)  # the head adapts itself to the corpus rows
        y += ctx.extra.labels(fw.goal_ids, ctx.multi)
    E = np.vstack([np.asarray(a, dtype=np.float64).reshape(-1, train.E.shape[1]) for a in X])
    return GoalClassifier(fw, ctx.embed, **params).fit(E, y, corpus=corpus)


def out_of_fold(ctx: Context, train: Part, inner_folds: int = 5) -> np.ndarray:
    """goalmatch's probabilities for every training row from a model fitted without it
    (``inner_folds``-fold cross-validation inside the training part: what a post-hoc
    calibration may be fitted on without touching the test fold)."""
    from sklearn.model_selection import KFold

    oof = np.zeros((len(train), ctx.k))
    for tr, te in KFold(min(inner_folds, len(train)), shuffle=True, random_state=0).split(train.E):
        oof[te] = fit_goalmatch(ctx, train.take(tr)).predict_proba(np.asarray(train.E[te], dtype=np.float64))
    return oof


def goalmatch_recalibrated(inner_folds: int = 5) -> Method:
    """Experimental (issue 4, part 2): goalmatch, then a post-hoc calibration fitted on the
    training fold's own out-of-fold goalmatch probabilities (nested cross-validation, so
    the test fold is never used): single-label a temperature ``softmax(log P / T)``,
    multi-label a shared Platt map ``expit(a * logit P + b)``. The argmax is unchanged."""

    def method(ctx: Context, train: Part, test: Part) -> Prediction:
        from scipy.optimize import minimize
        from scipy.special import expit, log_softmax, logit

        pred = goalmatch_method()(ctx, train, test)
        if len(train) < 3:
            return pred
        oof = out_of_fold(ctx, train, inner_folds)
        eps = 1e-6
        if ctx.multi:
            z, Y = logit(np.clip(oof, eps, 1 - eps)), train.Y.astype(float)

            def loss(theta: np.ndarray) -> float:
                q = np.clip(expit(theta[0] * z + theta[1]), eps, 1 - eps)
                return float(-np.mean(Y * np.log(q) + (1 - Y) * np.log(1 - q)))

            a, b = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B").x
            P = expit(a * logit(np.clip(pred.P, eps, 1 - eps)) + b)
            answered = pred.answered if pred.answered is not None else np.ones(len(P), dtype=bool)
            return Prediction(P, (P >= 0.5) | (_single(P) & answered[:, None]), True, pred.answered)
        logs = np.log(np.clip(oof, eps, 1.0))

        def nll(t: np.ndarray) -> float:
            return float(-np.mean(log_softmax(logs / np.exp(t[0]), axis=1)[np.arange(len(train)), train.primary]))

        T = float(np.exp(minimize(nll, np.zeros(1), method="L-BFGS-B", bounds=[(-3, 3)]).x[0]))
        P = np.exp(log_softmax(np.log(np.clip(pred.P, eps, 1.0)) / T, axis=1))
        return Prediction(P, pred.predicted, True, pred.answered)

    return method


METHODS: dict[str, Method] = {
    "majority class": majority,
    "TF-IDF lemmas + LR": tfidf_lr,
    "nearest description (zero-shot)": nearest_description,
    "encoder + LR": encoder_lr,
    "goalmatch zero-shot": goalmatch_method(zero_shot=True),
    "goalmatch": goalmatch_method(),
}
"""Every method in the comparison table, goalmatch last."""
