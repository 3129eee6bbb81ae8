"""What a :class:`~goalmatch.model.classifier.GoalClassifier` learns from, read and checked.

The framework's own strategy texts as training rows (:func:`goal_texts`); the texts or
embeddings ``X`` (:func:`is_texts`, :func:`n_rows`); the labels ``y``, of a framework's goals
(:func:`framework_targets`) or plain (:func:`label_targets`); and which rows of ``X`` are the
framework's own project texts (:func:`corpus_rows`). A bad label names its row: ``y[2]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, column_or_1d

from goalmatch.data.frameworks import Framework

__all__ = ["corpus_rows", "framework_targets", "goal_texts", "is_texts", "label_targets", "n_rows"]


def goal_texts(framework: Framework) -> tuple[list[str], np.ndarray, list[str]]:
    """Every strategy text of a framework: ``(texts, top-level goal index, kind)``.

    A top-level goal's texts are its own :meth:`~goalmatch.data.frameworks.Goal.texts` and those
    of its descendants (kinds ``name``, ``alias``, ``description``, ``example``), in file
    order. A text repeated within a goal is kept once.
    """
    texts: list[str] = []
    index: list[int] = []
    kinds: list[str] = []
    for g, top in enumerate(framework.goals):
        seen: set[str] = set()
        for goal in (top, *top.walk()):
            for kind, text in goal.texts():
                if text not in seen:
                    seen.add(text)
                    texts.append(text)
                    index.append(g)
                    kinds.append(kind)
    return texts, np.asarray(index, dtype=np.intp), kinds


def n_rows(X: Any) -> int:
    """The number of rows of ``X`` (a list, an array, a DataFrame …)."""
    if isinstance(X, list | tuple):
        return len(X)
    return int(_num_samples(X))


def is_texts(X: Any) -> bool:
    """Texts (a list of str, a 1-D string/object array) rather than numeric embeddings."""
    if isinstance(X, str | bytes):
        raise TypeError("expected a list of texts, got a single string; wrap it in a list: [text]")
    if sp.issparse(X):
        return False
    if isinstance(X, list | tuple):
        return bool(X) and isinstance(X[0], str)
    arr = np.asarray(X) if hasattr(X, "__array__") else None
    if arr is None:
        return True
    if arr.ndim == 2 and arr.shape[1] == 1:  # one column of texts
        return arr.dtype.kind in "US"
    return arr.ndim == 1 and arr.dtype.kind in "USO"


def framework_targets(y: Any, n: int, framework: Framework) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(primary goal index, 0/1 goal matrix, labelled mask)`` of labels ``y`` for ``n`` texts.

    ``y[i]``: a goal id, a list of them (a single-label framework uses the first), or
    ``None`` (unlabelled); an id that is not the framework's is an error naming the row.
    """
    rows = _label_rows(y, n)
    index = {goal_id: g for g, goal_id in enumerate(framework.goal_ids)}
    primary = np.zeros(n, dtype=np.intp)
    targets = np.zeros((n, len(index)))
    labelled = np.ones(n, dtype=bool)
    for i, item in enumerate(rows):
        if item is None:
            labelled[i] = False
            continue
        ids = [item] if isinstance(item, str) else item
        if not isinstance(ids, list | tuple | np.ndarray):
            raise ValueError(f"y[{i}]: expected a goal id, a list of goal ids or None, got {item!r}")
        ids = list(ids)
        if not ids and not framework.multi_label:
            raise ValueError(
                f"y[{i}]: no goal id; {framework.id} is single-label and needs one (None: unlabelled)"
            )
        for label in ids if framework.multi_label else ids[:1]:
            if label not in index:
                resolved = framework.resolve(label) if isinstance(label, str) else None
                hint = f" (did you mean {resolved!r}?)" if resolved else ""
                raise ValueError(
                    f"y[{i}]: {label!r} is not a goal of {framework.id}{hint}; "
                    f"expected one of {', '.join(framework.goal_ids)}"
                )
            targets[i, index[label]] = 1.0
        primary[i] = index[ids[0]] if ids else 0
    return primary, targets, labelled


def label_targets(y: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, primary class index, one-hot matrix)`` of plain labels ``y`` (no framework)."""
    if y is None:
        raise ValueError(
            "GoalClassifier requires y to be passed, but the target y is None (without a framework it learns "
            "from labels only)"
        )
    y = column_or_1d(y, warn=True)
    if y.dtype.kind == "f":
        assert_all_finite(y, input_name="y")
    check_classification_targets(y)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} labels")
    classes, primary = np.unique(y, return_inverse=True)
    return classes, primary.astype(np.intp), np.eye(len(classes))[primary]


def corpus_rows(corpus: Any, n: int) -> np.ndarray | None:
    """``fit``'s ``corpus``: one bool per row of ``X``, as an array (``None`` stays ``None``)."""
    if corpus is None:
        return None
    rows = np.asarray(corpus)
    if rows.shape != (n,) or (n and rows.dtype.kind != "b"):
        raise ValueError(f"corpus must hold one bool per row of X ({n}), got {corpus!r:.80}")
    return rows.astype(bool)


def _label_rows(y: Any, n: int) -> list[Any]:
    if y is None:
        raise ValueError(f"labels y are needed for the {n} texts in X")
    if isinstance(y, str):
        raise TypeError("y must be a list with one goal id (or list of ids) per text, got a single string")
    rows = y.tolist() if isinstance(y, np.ndarray) else list(y)
    if len(rows) != n:
        raise ValueError(f"X has {n} rows but y has {len(rows)} labels")
    return rows
