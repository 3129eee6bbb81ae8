"""Similarity evidence for :class:`goalmatch.model.classifier.GoalClassifier`, and the small model on top.

Two numbers per (text, goal) pair, both from cosine similarities of unit-length embeddings:

``strategy``
    the mean of the ``n_nearest`` highest similarities between the text and the goal's own
    strategy texts (name, aliases, description, examples, and those of its sub-goals);
``projects``
    the mean similarity to the labelled projects of that goal minus the mean similarity to
    all labelled projects (0 where the goal has none). Subtracting the overall mean cancels
    what every project shares with every other project (the genre), leaving the topic.

Both are centred per text across goals, so only *which goal is closer* counts, not how
close project texts are to strategy texts in general. A training row never sees itself:
its own strategy text or its own project is left out of its features.

The model on top has one weight per feature and is shared by all goals (no per-goal
bias), fitted by weighted maximum likelihood: a softmax over goals for single-label
frameworks, a logistic per (text, goal) pair for multi-label (one intercept for strategy
texts and one for projects, whose base rates differ).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import expit, log_expit, log_softmax, softmax

from goalmatch.embed import tokens as _tokens

N_FEATURES = 2
FEATURE_NAMES = ("strategy", "projects")


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float64."""
    return _tokens.unit_rows(X, np.float64)


def pair_features(
    E: np.ndarray,
    prototypes: np.ndarray,
    prototype_goal: np.ndarray,
    labelled: np.ndarray,
    targets: np.ndarray,
    n_nearest: int,
    *,
    own_prototype: np.ndarray | None = None,
    own_labelled: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(len(E), n_goals, 2)`` and each text's *support* ``(len(E),)``.

    The support is the uncentred strategy similarity of the closest goal (``-inf`` where
    there are no strategy texts): how related the text is to the strategy at all.

    ``prototypes`` (m, d) with ``prototype_goal`` (m,) goal indices; ``labelled`` (p, d)
    with ``targets`` (p, n_goals) 0/1. ``own_prototype[i]`` / ``own_labelled[i]`` is the
    index of row ``i`` itself among the prototypes / labelled rows (-1: not there).
    All embedding arrays must have unit rows.
    """
    n, k = len(E), targets.shape[1]
    strategy = np.full((n, k), np.nan)
    if len(prototypes):
        S = E @ prototypes.T
        _leave_out(S, own_prototype)
        for g in range(k):
            cols = S[:, prototype_goal == g]
            if cols.shape[1]:
                top = -np.sort(-cols, axis=1)[:, :n_nearest]
                finite = np.isfinite(top)
                count = finite.sum(axis=1)
                total = np.where(finite, top, 0.0).sum(axis=1)
                strategy[:, g] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    projects = np.zeros((n, k))
    if len(labelled):
        S = E @ labelled.T
        _leave_out(S, own_labelled)
        seen = np.isfinite(S)
        S0 = np.where(seen, S, 0.0)
        overall = S0.sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
        counts = seen.astype(np.float64) @ targets
        means = (S0 @ targets) / np.maximum(counts, 1)
        projects = np.where(counts > 0, means - overall[:, None], 0.0)
    features = np.stack([_centre(strategy), _centre(projects)], axis=-1)
    finite = ~np.isnan(strategy)
    support = np.where(finite, strategy, -np.inf).max(axis=1, initial=-np.inf)
    return features, support


def _leave_out(S: np.ndarray, own: np.ndarray | None) -> None:
    if own is not None:
        rows = np.flatnonzero(own >= 0)
        S[rows, own[rows]] = -np.inf


def _centre(F: np.ndarray) -> np.ndarray:
    """Subtract each row's mean over goals; goals without evidence get the row mean (0 after)."""
    if np.isnan(F).all():
        return np.zeros_like(F)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(np.isnan(F).all(axis=1, keepdims=True), 0.0, F), axis=1, keepdims=True)
    return np.where(np.isnan(F), 0.0, F - mean)


def balanced_weights(classes: np.ndarray, k: int) -> np.ndarray:
    """Row weights making every class present weigh the same; the weights sum to 1."""
    if not len(classes):
        return np.zeros(0)
    counts = np.bincount(classes, minlength=k).astype(np.float64)
    weight = 1.0 / counts[classes]
    return weight / weight.sum()


def fit_softmax(F: np.ndarray, y: np.ndarray, weight: np.ndarray, alpha: float,
                lower: np.ndarray | None = None) -> np.ndarray:
    """Weights ``w`` maximising the weighted log-likelihood of ``softmax(F @ w)`` (L2 ``alpha``),
    each at least ``lower`` (none by default)."""
    k = F.shape[1]
    Y = np.eye(k)[y]
    total = weight.sum()

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        Z = F @ w
        nll = -(weight * (Y * log_softmax(Z, axis=1)).sum(axis=1)).sum() / total
        R = (softmax(Z, axis=1) - Y) * weight[:, None]
        grad = np.einsum("ig,igf->f", R, F) / total + alpha * w
        return float(nll + 0.5 * alpha * w @ w), grad

    return _minimize(objective, _start(F.shape[2], lower), lower)


def fit_temperature(Z: np.ndarray, y: np.ndarray, prior: float, bound: float = 3.0) -> float:
    """The temperature ``T`` maximising the log-likelihood of ``softmax(Z / T)`` for labels ``y``,
    with a Gaussian prior on ``log T`` (mean 0, worth ``prior`` rows); ``log T`` in ``±bound``."""
    rows = np.arange(len(y))

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.exp(-t[0])
        Q = log_softmax(s * Z, axis=1)
        nll = -Q[rows, y].sum()
        # d nll / d s = -(Z[y] - E_softmax[Z]); d s / d t = -s
        d_s = -(Z[rows, y] - (np.exp(Q) * Z).sum(axis=1)).sum()
        return float(nll + 0.5 * prior * t[0] ** 2), np.array([d_s * -s + prior * t[0]])

    result = minimize(objective, np.zeros(1), jac=True, method="L-BFGS-B", bounds=[(-bound, bound)])
    return float(np.exp(result.x[0]))


def fit_pairs(F: np.ndarray, Y: np.ndarray, weight: np.ndarray, group: np.ndarray, alpha: float,
              lower: np.ndarray | None = None) -> np.ndarray:
    """``[w..., b_0, b_1]`` of a logistic model ``expit(F @ w + b_group)`` over all (row, goal) pairs.

    Shared weights, one intercept per row group (0: strategy texts, 1: projects): a
    strategy text serves one goal, a project often several, so the base rates differ.
    A group without rows keeps the other group's intercept. ``lower``: bounds on ``w``.
    """
    total = weight.sum() * F.shape[1]
    d = F.shape[2]
    onehot = np.eye(2)[group]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], onehot @ theta[d:]
        Z = F @ w + b[:, None]
        nll = -(weight[:, None] * (Y * log_expit(Z) + (1 - Y) * log_expit(-Z))).sum() / total
        R = (expit(Z) - Y) * weight[:, None]
        grad = np.concatenate([np.einsum("ig,igf->f", R, F) / total + alpha * w, onehot.T @ R.sum(axis=1) / total])
        return float(nll + 0.5 * alpha * w @ w), grad

    bounds = None if lower is None else np.concatenate([lower, [-np.inf, -np.inf]])
    theta = _minimize(objective, _start(d + 2, bounds), bounds)
    counts = np.bincount(group, minlength=2)
    if counts[1] == 0:
        theta[d + 1] = theta[d]
    elif counts[0] == 0:
        theta[d] = theta[d + 1]
    return theta


def fit_intercept_shift(Z: np.ndarray, Y: np.ndarray) -> float:
    """The shift ``d`` of log-odds ``Z`` (rows, goals) at which the expected number of labels,
    ``expit(Z + d).sum()``, equals the real one, ``Y.sum()`` (0/1, same shape): the
    maximum-likelihood change of a shared intercept. ``Y`` must hold some 1s and some 0s."""
    return float(brentq(lambda d: expit(Z + d).sum() - Y.sum(), -30.0, 30.0))


def fit_residual(
    A: np.ndarray, offset: np.ndarray, Y: np.ndarray, C: float, prior: float, *, multi_label: bool,
    extra: np.ndarray | None = None, extra_prior: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """A linear correction of fixed scores: ``(W, b, a, u)`` maximising the log-likelihood of
    ``a * offset + u * extra + A @ W + b`` (softmax over goals, or a logistic per goal if
    ``multi_label``) for the 0/1 targets ``Y``, as scikit-learn's ``LogisticRegression(C=C)``
    penalises: the sum of the rows' losses plus ``(||W||² + u²) / (2 C)``. ``b`` is penalised the
    same way, so one row per goal does not move the scores far; ``log a`` has a Gaussian prior
    worth ``prior`` rows around 0 (``a = 1``: the offset as it is). ``extra`` (n, k), optional:
    one more per-(row, goal) feature, standardised like ``A`` and weighed with it (``u = 0``
    without it, and never below 0), so the fit decides how much it adds to what the embeddings
    already say.

    So with no rows the scores are the offset itself, and as rows accumulate the
    correction grows into a full logistic regression on ``A`` (which may also down-weight
    the offset). ``A`` (n, d) should be standardised.
    """
    n, d = A.shape
    k = Y.shape[1]
    if n == 0:
        return np.zeros((d, k)), np.zeros(k), 1.0, 0.0
    lam = 1.0 / C
    lam_u = lam if extra_prior is None else float(extra_prior)
    X = np.zeros((n, k)) if extra is None else np.asarray(extra, dtype=np.float64)
    size = d * k + k

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b, t, u = theta[: d * k].reshape(d, k), theta[d * k: size], theta[size], theta[size + 1]
        a = np.exp(t)
        Z = a * offset + u * X + A @ W + b
        if multi_label:
            nll = -(Y * log_expit(Z) + (1 - Y) * log_expit(-Z)).sum()
            R = expit(Z) - Y
        else:
            nll = -(Y * log_softmax(Z, axis=1)).sum()
            R = softmax(Z, axis=1) - Y
        value = nll + 0.5 * lam * (W.ravel() @ W.ravel() + b @ b) + 0.5 * lam_u * u * u + 0.5 * prior * t * t
        grad = np.concatenate([(A.T @ R + lam * W).ravel(), R.sum(axis=0) + lam * b,
                               [a * (R * offset).sum() + prior * t, (R * X).sum() + lam_u * u]])
        return float(value), grad

    lower = np.concatenate([np.full(size + 1, -np.inf), [0.0]])  # similarity never counts against a goal
    theta = _minimize(objective, np.zeros(size + 2), lower)
    return theta[: d * k].reshape(d, k), theta[d * k: size], float(np.exp(theta[size])), float(theta[size + 1])


def _start(n: int, lower: np.ndarray | None) -> np.ndarray:
    x0 = np.zeros(n)
    return x0 if lower is None else np.maximum(x0, np.where(np.isfinite(lower), lower, 0.0))


def _minimize(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray,
              lower: np.ndarray | None = None) -> np.ndarray:
    bounds = None if lower is None else [(lo if np.isfinite(lo) else None, None) for lo in lower]
    result = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 500, "gtol": 1e-9})
    return np.asarray(result.x, dtype=np.float64)
