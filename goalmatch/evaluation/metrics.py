"""Metric functions for evaluating goal suggestions: plain arrays in, JSON-ready dicts out.

Single-label: ``y`` holds goal indices ``(n,)``, ``P`` scores or probabilities ``(n, k)``.
Multi-label: ``Y`` and ``predicted`` are 0/1 matrices ``(n, k)``, ``P`` probabilities.

>>> import numpy as np
>>> m = single_label(np.array([0, 1, 1]), np.array([[.8, .2], [.6, .4], [.1, .9]]), ["a", "b"])
>>> m["top1"], round(m["macro_f1"], 3)
(0.667, 0.667)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

__all__ = ["abstention_curve", "expected_calibration_error", "multi_label", "pooled_ece", "scalar_scores",
           "single_label"]

N_BINS = 10
MIN_ECE_TEXTS = 100
"""ECE is reported only over at least this many distinct texts (fewer make its bins noise)."""
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _r(x: float) -> float:
    return round(float(x), 3)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = N_BINS
) -> tuple[float, list[dict[str, float]]]:
    """ECE over ``bins`` equal-width confidence bins, and the reliability diagram's bins.

    ``ECE = sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|``. Each bin entry has
    ``lo``, ``hi``, ``count``, ``confidence`` and ``accuracy`` (empty bins are left out).
    """
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    if len(confidence) != len(correct):
        raise ValueError(f"confidence has {len(confidence)} values but correct has {len(correct)}")
    if not len(confidence):
        return float("nan"), []
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece, out = 0.0, []
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.sum() / len(confidence) * abs(acc - conf)
        out.append({"lo": _r(edges[b]), "hi": _r(edges[b + 1]), "count": int(mask.sum()),
                    "confidence": _r(conf), "accuracy": _r(acc)})
    return float(ece), out


def abstention_curve(
    confidence: np.ndarray, correct: np.ndarray, coverages: Sequence[float] = COVERAGES
) -> list[dict[str, float]]:
    """Accuracy on the most confident share of texts, for each share in ``coverages``.

    Texts are answered in order of decreasing confidence (ties keep their order); at
    coverage ``c`` the ``ceil(c * n)`` most confident are answered.
    """
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    n = len(confidence)
    if not n:
        return []
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    out = []
    for c in coverages:
        m = max(1, int(np.ceil(c * n - 1e-9)))
        out.append({"coverage": _r(m / n), "accuracy": _r(hits[m - 1] / m), "threshold": _r(confidence[order][m - 1])})
    return out


def _per_goal(y_true: Any, y_pred: Any, classes: Sequence[str], multi: bool) -> dict[str, dict[str, float]]:
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=None if multi else labels, zero_division=0
    )
    return {
        str(g): {"precision": _r(p[i]), "recall": _r(r[i]), "f1": _r(f[i]), "support": int(s[i])}
        for i, g in enumerate(classes)
    }


def single_label(
    y: np.ndarray, P: np.ndarray, classes: Sequence[str], *, probabilistic: bool = True
) -> dict[str, Any]:
    """Top-1/top-3 accuracy, macro-F1 (over the goals present in ``y``), per-goal figures,
    the confusion matrix (rows: true goal, columns: predicted, ``classes`` order) and, for
    probabilities, ECE with its reliability bins and the abstention curve.

    Predictions are the argmax of ``P`` (ties: the first goal).
    """
    y = np.asarray(y, dtype=np.intp)
    P = np.asarray(P, dtype=np.float64)
    k = len(classes)
    if P.shape != (len(y), k):
        raise ValueError(f"P has shape {P.shape}, expected {(len(y), k)}")
    pred = P.argmax(axis=1)
    rank = (P > P[np.arange(len(y)), y][:, None]).sum(axis=1)  # goals scored strictly higher than the true one
    present = sorted(set(y.tolist()))
    out: dict[str, Any] = {
        "n": len(y),
        "top1": _r((pred == y).mean()),
        "top3": _r((rank < 3).mean()),
        "macro_f1": _r(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "per_goal": _per_goal(y, pred, classes, multi=False),
        "confusion": confusion_matrix(y, pred, labels=list(range(k))).tolist(),
    }
    correct = pred == y
    confidence = P.max(axis=1)
    if probabilistic:
        out["ece"], out["reliability"] = expected_calibration_error(confidence, correct)
        out["ece"] = _r(out["ece"])
        out["nll"] = _r(-np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-12, 1.0))))
    out["abstention"] = abstention_curve(confidence, correct)
    return out


def multi_label(
    Y: np.ndarray, P: np.ndarray, predicted: np.ndarray, classes: Sequence[str], *, probabilistic: bool = True
) -> dict[str, Any]:
    """Micro- and macro-F1 (macro over the goals present in ``Y``), per-goal figures, label
    cardinality error (mean ``|#predicted - #true|`` per text), hit@1 (the top-scored goal
    is one of the text's), and for probabilities ECE over all (text, goal) pairs (``ece``;
    flattered by the many easy "no" pairs) and of the top goal's probability as the
    chance of a hit (``ece_top1``).

    The abstention curve answers texts by their top score and counts hit@1.
    """
    Y = np.asarray(Y, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    P = np.asarray(P, dtype=np.float64)
    if not (Y.shape == predicted.shape == P.shape):
        raise ValueError(f"Y {Y.shape}, P {P.shape} and predicted {predicted.shape} must have the same shape")
    n = len(Y)
    present = np.flatnonzero(Y.any(axis=0))
    hit = Y[np.arange(n), P.argmax(axis=1)] if n else np.zeros(0, dtype=bool)
    out: dict[str, Any] = {
        "n": n,
        "labels": int(Y.sum()),
        "micro_f1": _r(f1_score(Y, predicted, average="micro", zero_division=0)),
        "macro_f1": _r(f1_score(Y[:, present], predicted[:, present], average="macro", zero_division=0))
        if len(present) else 0.0,
        "per_goal": _per_goal(Y, predicted, classes, multi=True),
        "cardinality_error": _r(np.abs(predicted.sum(axis=1) - Y.sum(axis=1)).mean()) if n else 0.0,
        "predicted_per_text": _r(predicted.sum(axis=1).mean()) if n else 0.0,
        "hit_at_1": _r(hit.mean()) if n else 0.0,
    }
    if probabilistic:
        ece, bins = expected_calibration_error(P.ravel(), Y.ravel())
        out["ece"], out["reliability"] = _r(ece), bins
        out["ece_top1"] = _r(expected_calibration_error(P.max(axis=1), hit)[0])
    out["abstention"] = abstention_curve(P.max(axis=1), hit)
    return out


def _top_right(Y: np.ndarray, primary: np.ndarray, P: np.ndarray, multi: bool) -> np.ndarray:
    """Per text: is the top-scored goal right (the primary goal; multi-label: one of the text's)?"""
    top = P.argmax(axis=1)
    return Y[np.arange(len(P)), top].astype(bool) if multi else top == primary


def scalar_scores(
    Y: np.ndarray, primary: np.ndarray, P: np.ndarray, predicted: np.ndarray, *, multi: bool,
    probabilistic: bool = True, answered: np.ndarray | None = None,
) -> dict[str, float | None]:
    """The headline figures of one set of predictions, every one a number (or None: not defined).

    ``accuracy``: the top goal is right (single-label: the primary goal; multi-label: one of the
    text's, i.e. hit@1); ``top3``: a right goal among the 3 best; ``macro_f1`` over the goals
    present in ``Y``; multi-label also ``micro_f1``, ``precision`` and ``recall`` (micro) of the
    ``predicted`` goal sets. ``log_loss`` (probabilities only): single-label the mean ``-log p``
    of the primary goal, multi-label the mean binary cross-entropy over (text, goal) pairs.
    ``answered``/``accuracy_answered``: the share of texts the method did not abstain on, and
    its accuracy there.

    >>> import numpy as np
    >>> P = np.array([[.7, .3], [.4, .6]])
    >>> s = scalar_scores(np.eye(2, dtype=bool), np.array([0, 1]), P, P >= .5, multi=False)
    >>> s["accuracy"], s["log_loss"]
    (1.0, 0.434)
    """
    Y, P, predicted = np.asarray(Y, dtype=bool), np.asarray(P, dtype=np.float64), np.asarray(predicted, dtype=bool)
    primary = np.asarray(primary, dtype=np.intp)
    right = _top_right(Y, primary, P, multi)
    rank = (P > np.max(np.where(Y, P, -np.inf), axis=1, keepdims=True)).sum(axis=1)  # scored above the best true
    present = np.flatnonzero(Y.any(axis=0))
    out: dict[str, float | None] = {"accuracy": _r(right.mean()), "top3": _r((rank < 3).mean())}
    if multi:
        p, r, f, _ = precision_recall_fscore_support(Y, predicted, average="micro", zero_division=0)
        out.update(micro_f1=_r(f), precision=_r(p), recall=_r(r),
                   macro_f1=_r(f1_score(Y[:, present], predicted[:, present], average="macro", zero_division=0)))
    else:
        out["macro_f1"] = _r(f1_score(primary, P.argmax(axis=1), labels=present, average="macro", zero_division=0))
    out["log_loss"] = None
    if probabilistic:
        q = np.clip(P, 1e-12, 1 - 1e-12)
        out["log_loss"] = _r(-np.mean(Y * np.log(q) + ~Y * np.log(1 - q)) if multi
                             else -np.mean(np.log(q[np.arange(len(P)), primary])))
    if answered is not None:
        answered = np.asarray(answered, dtype=bool)
        out["answered"] = _r(answered.mean())
        out["accuracy_answered"] = _r(right[answered].mean()) if answered.any() else None
    return out


def pooled_ece(Y: np.ndarray, primary: np.ndarray, P: np.ndarray, *, multi: bool, distinct: int,
               min_texts: int = MIN_ECE_TEXTS) -> dict[str, Any]:
    """ECE of the top goal's probability as the chance it is right, over predictions pooled (e.g.
    over repeats), where they cover at least ``min_texts`` ``distinct`` texts; otherwise
    ``{"ece": None, "why": "n/a (n < 100)"}``. Multi-label adds ``ece_pairs`` over every
    (text, goal) pair (flattered by the many easy "no" pairs)."""
    if distinct < min_texts:
        return {"ece": None, "n": distinct, "why": f"n/a (n < {min_texts})"}
    P = np.asarray(P, dtype=np.float64)
    out: dict[str, Any] = {"n": distinct, "predictions": len(P)}
    out["ece"] = _r(expected_calibration_error(P.max(axis=1), _top_right(np.asarray(Y, bool), primary, P, multi))[0])
    if multi:
        out["ece_pairs"] = _r(expected_calibration_error(P.ravel(), np.asarray(Y, dtype=bool).ravel())[0])
    return out
