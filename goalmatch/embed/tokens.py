"""Token-level plumbing of the encoders: batches under a token budget, truncation as the
tokenizer does it, and span vectors pooled from token states (late chunking).

>>> [g.tolist() for g in token_batches([10, 500, 20, 480, 30], batch_size=3, batch_tokens=1000)]
[[1, 3], [4, 2, 0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_spans", "encode_spans_apart", "pool_spans", "token_batches", "truncate", "unit_rows"]


def token_batches(lengths: Any, batch_size: int, batch_tokens: int) -> list[np.ndarray]:
    """Indices of texts grouped for encoding: longest first, each group padded to its first text's length.

    A group takes texts while it holds at most ``batch_size`` of them and ``len(group) *
    longest <= batch_tokens``; a text longer than the budget goes alone. Every index
    appears once.

    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    groups = []
    start = 0
    while start < len(order):
        width = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, batch_tokens // width))
        groups.append(order[start : start + size])
        start += size
    return groups


def encode_spans_apart(encoder: Any, texts: list[str], spans: list[list[tuple[int, int]]]
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
    """What ``encode_spans`` means, for any encoder with ``encode``: every span encoded as a
    text of its own, in the same call as the texts."""
    flat = [texts[i][a:b] for i, row in enumerate(spans) for a, b in row]
    V = np.asarray(encoder.encode(texts + flat), dtype=np.float32)
    bounds = np.cumsum([len(texts), *(len(row) for row in spans)])
    return V[: len(texts)], [V[bounds[i]: bounds[i + 1]] for i in range(len(texts))]


def check_spans(items: list[str], spans: Any) -> list[list[tuple[int, int]]]:
    """``spans`` as lists of ``(start, end)`` inside each text; errors name the text and span."""
    if len(spans) != len(items):
        raise ValueError(f"spans: {len(spans)} lists for {len(items)} texts")
    out = []
    for i, (text, row) in enumerate(zip(items, spans, strict=True)):
        checked = []
        for j, span in enumerate(row):
            start, end = (int(v) for v in span)
            if not 0 <= start < end <= len(text):
                raise ValueError(f"spans[{i}][{j}] = {span!r} is not a non-empty span of a {len(text)}-character text")
            checked.append((start, end))
        out.append(checked)
    return out


def truncate(ids: list[int], limit: int) -> list[int]:
    """The tokenizer's truncation: the first ``limit - 1`` tokens (``<s>`` first) and the final ``</s>``."""
    return ids if len(ids) <= limit else [*ids[: limit - 1], ids[-1]]


def pool_spans(states: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Mean token state over the tokens overlapping each span (NaN where none does)."""
    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
    starts, ends = np.array(spans).T
    cover = real[None] & (offsets[None, :, 0] < ends[:, None]) & (offsets[None, :, 1] > starts[:, None])
    counts = cover.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cover.astype(np.float32) @ states) / counts


def unit_rows(X: Any, dtype: Any = np.float32) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), computed and returned in ``dtype``."""
    X = np.asarray(X, dtype=dtype)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)
