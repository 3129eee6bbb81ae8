"""The baselines ``goalmatch benchmark`` sets beside goalmatch, at every point of a learning curve.

Each is a method of :mod:`goalmatch.evaluation.baselines` (``(context, train, test) ->
Prediction``), fitted afresh for every training draw; settings are fixed beforehand, never
tuned on a test part:

- *nearest description*, five variants: the cosine to one text per goal ("name. description")
  or the mean cosine over the description's pieces (split at sentence ends, semicolons and
  commas; pieces under two words dropped), the goal texts encoded with the encoder's own
  prefix (``query: `` for e5) or with ``passage: ``; and the highest cosine to any of the
  goal's texts (names, aliases, descriptions, examples and those of its sub-goals, as
  goalmatch reads the framework: :func:`goalmatch.evaluation.baselines.nearest_description`).
  Labels are not used; the scores are cosines, not probabilities.
- *nearest description + self-training* (zero-shot with the backlog only; single-label): the pieces/query
  scores pseudo-label the unlabelled project texts (per goal, the more confident half of the
  texts it wins, by margin over the runner-up), then balanced logistic regression on them.
- *embeddings + LR*: StandardScaler, then logistic regression (C = 0.1) on the embeddings.
- *TF-IDF + LR*: word 1–2-grams and character 3–5-grams (sublinear TF; n-grams of at least two
  training texts), logistic regression (C = 10, tolerance 1e-3: the character n-grams make a
  six-figure feature count, which lbfgs crosses slowly; the predictions did not change).
- *kNN vote*: the 5 nearest labelled projects by cosine (fewer when there are fewer), votes
  weighted by similarity, add-one smoothed into probabilities.

Multi-label frameworks get one binary model per goal (a goal without positive and negative
examples predicts its training frequency); a text gets every goal at 0.5 or more, and its top
goal always.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from goalmatch.data.frameworks import Framework
from goalmatch.evaluation.baselines import (
    Context,
    Method,
    Part,
    Prediction,
    goalmatch_method,
    nearest_description,
    top_m,
)
from goalmatch.model import features as _features

__all__ = ["GOALMATCH", "NEAREST_PREFIX", "Entry", "benchmark_methods", "description_pieces", "embedding_lr",
           "knn_vote", "methods_table", "nearest_variants", "self_training", "tfidf_lr",
           "with_prefix"]

GOALMATCH = "goalmatch"
"""The name of goalmatch (as it ships) among the benchmark's methods."""
NEAREST_PREFIX = "nearest description"
"""Every nearest-description variant's name starts so."""
LR_C, TFIDF_C, NEIGHBOURS = 0.1, 10.0, 5


@dataclass(frozen=True)
class Entry:
    """A method and the points of a learning curve it runs at.

    ``when``: ``"always"`` (goalmatch: the zero-shot points too), ``"fixed"`` (uses neither
    labels nor the backlog: fitted once per test part, the same at every point),
    ``"backlog"`` (the zero-shot point with the backlog only) or ``"labelled"`` (k >= 1).
    """

    method: Method
    when: str


# ------------------------------------------------------------------ small shared parts


def _top(P: np.ndarray) -> np.ndarray:
    return np.eye(P.shape[1], dtype=bool)[P.argmax(axis=1)] if len(P) else np.zeros(P.shape, dtype=bool)


def _decide(ctx: Context, P: np.ndarray, probabilistic: bool = True) -> Prediction:
    return Prediction(P, ((P >= 0.5) | _top(P)) if ctx.multi and probabilistic else _top(P), probabilistic)


def _fit(model: Any, A: Any, y: np.ndarray) -> Any:
    """``model.fit(A, y)`` without convergence warnings (the iteration caps are generous)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(A, y)


def _per_goal(make: Callable[..., Any], A: Any, B: Any, Y: np.ndarray, primary: np.ndarray, multi: bool,
              k: int, balanced: bool = False) -> np.ndarray:
    """Probabilities ``(len(B), k)``: one binary model per goal (multi-label) or one multinomial model."""
    P = np.zeros((B.shape[0], k))
    if multi:
        for g in range(k):
            y = Y[:, g].astype(int)
            P[:, g] = _fit(make(), A, y).predict_proba(B)[:, 1] if 0 < y.sum() < len(y) \
                else (y.mean() if len(y) else 0.0)
        return P
    present = np.unique(primary)
    if len(present) < 2:
        P[:, present[0]] = 1.0
        return P
    model = _fit(make(balanced), A, primary)
    P[:, model.classes_] = model.predict_proba(B)
    return P


def _lr(C: float, scale: bool, tol: float = 1e-4) -> Callable[..., Any]:
    def make(balanced: bool = False) -> Any:
        lr = LogisticRegression(C=C, max_iter=3000, tol=tol, class_weight="balanced" if balanced else None)
        return make_pipeline(StandardScaler(), lr) if scale else lr

    return make


# ------------------------------------------------------------------ learners


def embedding_lr(ctx: Context, train: Part, test: Part) -> Prediction:
    """StandardScaler, then logistic regression (C = 0.1) on the same embeddings."""
    P = _per_goal(_lr(LR_C, True), train.E, test.E, train.Y, train.primary, ctx.multi, ctx.k)
    return _decide(ctx, P)


def tfidf_lr(ctx: Context, train: Part, test: Part) -> Prediction:
    """Word 1–2-gram and character 3–5-gram TF-IDF (n-grams of at least two training texts, once
    there are four), then logistic regression (C = 10)."""
    df = 2 if len(train) >= 4 else 1
    vec = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=df),
                     TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=df))
    A = vec.fit_transform(train.texts)
    P = _per_goal(_lr(TFIDF_C, False, tol=1e-3), A, vec.transform(test.texts), train.Y, train.primary, ctx.multi,
                  ctx.k)
    return _decide(ctx, P)


def knn_vote(ctx: Context, train: Part, test: Part) -> Prediction:
    """The ``NEIGHBOURS`` most similar labelled projects vote, weighted by cosine; add-one smoothed."""
    m = min(NEIGHBOURS, len(train))
    sims = _features.unit_rows(test.E) @ _features.unit_rows(train.E).T
    near = np.argsort(-sims, axis=1, kind="stable")[:, :m]
    w = np.clip(np.take_along_axis(sims, near, axis=1), 1e-6, None)
    w = w / w.sum(axis=1, keepdims=True) * m  # similarity-weighted votes summing to m
    if ctx.multi:
        votes = np.einsum("nm,nmk->nk", w, train.Y[near].astype(float))
        return _decide(ctx, (votes + 1.0) / (m + 2.0))
    votes = np.zeros((len(test), ctx.k))
    for j in range(m):
        np.add.at(votes, (np.arange(len(test)), train.primary[near[:, j]]), w[:, j])
    return _decide(ctx, (votes + 1.0) / (m + ctx.k))


# ------------------------------------------------------------------ nearest description


def description_pieces(description: str) -> list[str]:
    """A goal description split at sentence ends, semicolons and commas; pieces under two words dropped."""
    pieces = (p.strip(" .;:!?\n") for p in re.split(r"[.!?;:]\s+|,\s*", description))
    return [p for p in pieces if len(p.split()) >= 2]


def _goal_views(fw: Framework) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per aggregation, the goal texts and their goal index: one "name. description" per goal, or its pieces."""
    one = [f"{g.name}. {g.description}" for g in fw.goals]
    pieces, owner = [], []
    for i, g in enumerate(fw.goals):
        mine = description_pieces(g.description) or [g.name]
        pieces += mine
        owner += [i] * len(mine)
    return {"name + description": (one, np.arange(len(one))), "mean over pieces": (pieces, np.asarray(owner))}


def _nearest(ctx: Context, train: Part, test: Part, G: np.ndarray, owner: np.ndarray) -> Prediction:
    sims = _features.unit_rows(test.E) @ G.T
    P = np.stack([sims[:, owner == g].mean(axis=1) for g in range(ctx.k)], axis=1) if len(test) \
        else np.zeros((0, ctx.k))
    return Prediction(P, top_m(P, train) if ctx.multi else _top(P), probabilistic=False)


def nearest_variants(fw: Framework, embed: Any, passage: Any) -> dict[str, Method]:
    """The four nearest-description methods; ``embed``/``passage`` encode with the encoder's own
    prefix and with ``passage: ``. Multi-label: a text gets its ``m`` best goals, ``m`` the
    training draw's mean label count (1 without labels)."""
    out: dict[str, Method] = {}
    own = str(getattr(getattr(embed, "encoder", embed), "prefix", "")).strip()
    for label, enc in ((f"{own or 'no'} prefix", embed), ("passage: prefix", passage)):
        for view, (texts, owner) in _goal_views(fw).items():
            G = _features.unit_rows(np.asarray(enc.encode(texts), dtype=np.float64))

            def method(ctx: Context, train: Part, test: Part, G: np.ndarray = G, owner: np.ndarray = owner
                       ) -> Prediction:
                return _nearest(ctx, train, test, G, owner)

            out[f"{NEAREST_PREFIX} ({view}, {label})"] = method
    return out


def self_training(base: Method) -> Method:
    """Zero-shot with the backlog: ``base``'s scores pseudo-label the unlabelled texts (per goal the
    more confident half of those it wins, by margin over the runner-up), then balanced
    StandardScaler + logistic regression on them. Single-label; without a backlog of at least
    two goals' texts it is ``base``."""

    def method(ctx: Context, train: Part, test: Part) -> Prediction:
        U = ctx.unlabelled
        if ctx.multi or len(U) < 2:
            return base(ctx, train, test)
        k = ctx.k
        pool = Part([""] * len(U), U, np.zeros((len(U), k), dtype=bool), np.zeros(len(U), dtype=np.intp))
        S = base(ctx, train, pool).P
        ranked = np.sort(S, axis=1)
        margin, won = ranked[:, -1] - ranked[:, -2], S.argmax(axis=1)
        keep: list[int] = []
        for g in range(k):
            mine = np.flatnonzero(won == g)
            keep += mine[np.argsort(-margin[mine], kind="stable")][: max(1, len(mine) // 2)].tolist()
        rows = np.asarray(sorted(keep), dtype=np.intp)
        if len(np.unique(won[rows])) < 2:
            return base(ctx, train, test)
        P = _per_goal(_lr(LR_C, True), U[rows], test.E, np.eye(k, dtype=bool)[won[rows]], won[rows], False, k,
                      balanced=True)
        return _decide(ctx, P)

    return method


def benchmark_methods(fw: Framework, embed: Any, passage: Any) -> dict[str, Entry]:
    """Every method of the benchmark for one framework, goalmatch last. ``embed``: the embedding
    cache of the run (its encoder's prefix is the "own" one); ``passage``: the same encoder with
    ``passage: `` first (:func:`with_prefix`), for the passage variants' goal texts."""
    nearest = nearest_variants(fw, embed, passage)
    pieces_own = next(m for name, m in nearest.items() if "pieces" in name and "passage" not in name)
    out = {name: Entry(m, "fixed") for name, m in nearest.items()}
    own = str(getattr(getattr(embed, "encoder", embed), "prefix", "")).strip() or "no"
    out[f"{NEAREST_PREFIX} (every goal text, max, {own} prefix)"] = Entry(nearest_description, "fixed")
    if not fw.multi_label:
        out["nearest description + self-training (backlog)"] = Entry(self_training(pieces_own), "backlog")
    out["embeddings + LR"] = Entry(embedding_lr, "labelled")
    out["TF-IDF + LR"] = Entry(tfidf_lr, "labelled")
    out["kNN vote"] = Entry(knn_vote, "labelled")
    out[GOALMATCH] = Entry(goalmatch_method(), "always")
    return out


def with_prefix(embed: Any, prefix: str) -> Any:
    """An embedding cache over a shallow copy of ``embed``'s encoder that puts ``prefix`` first
    (the loaded model is shared, not loaded again); in memory only when ``embed`` is."""
    from goalmatch.embed.cache import EmbeddingCache

    encoder = getattr(embed, "encoder", embed)
    twin = copy.copy(encoder)
    twin.prefix = prefix
    folder = embed.path.parent if getattr(embed, "path", None) is not None else None
    return EmbeddingCache(twin, folder)


def methods_table(entries: Mapping[str, Entry]) -> dict[str, str]:
    """Method name → when it runs (for metrics.json)."""
    return {name: e.when for name, e in entries.items()}
