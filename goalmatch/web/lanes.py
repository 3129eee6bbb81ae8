"""Suggestions side by side: short texts at once, a long one in pieces that give way (issue 16, item 9).

The app used to hold one lock around the matcher, so a pasted 150,000-character
application (about a minute of encoding on two cores) made every other reviewer wait for
it. Now a text of at most :data:`LONG_CHARS` characters is suggested at once, beside the
others (the encoder's weights are shared and read-only; the matcher builds its shared state
under a lock). A longer one takes the long lane: one worker thread, so one long text at a
time, running at a lower CPU priority (:data:`LONG_NICE` on Linux; the encoder's threads
it starts inherit it) on e5's torch forward pass; its passages are encoded
:data:`PIECE_TEXTS` at a time, and before each piece it waits until no short suggestion is
under way, or :data:`MAX_WAIT_S` has passed (so it finishes under a steady stream of short
ones too). The goals and probabilities are those of :meth:`goalmatch.Matcher.suggest`: the same
passages, encoded one by one instead of in one batch (the same vectors up to float
rounding); its sentence evidence is taken from the passages' own pass (``sentences="late"``),
which bounds the work of a long text to its passages.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from goalmatch.embed.tokens import encode_spans_apart

__all__ = ["LONG_CHARS", "LONG_NICE", "MAX_WAIT_S", "PIECE_TEXTS", "Lanes", "PacedEncoder", "lower_thread_priority"]

log = logging.getLogger(__name__)

LONG_CHARS = 8_000
"""A text over this many characters (about 2,000 tokens, four passages) takes the long lane."""
PIECE_TEXTS = 1
"""Passages of a long text per encoder call (one passage is at most 500 tokens, 0.1-0.4 s on two cores)."""
MAX_WAIT_S = 0.5
"""The longest a long text's next piece waits for short suggestions to finish."""
LONG_NICE = 10
"""How much lower the long lane's thread runs (added to its nice value, Linux only): on a busy
machine the short suggestions get the CPU first."""


class PacedEncoder:
    """``encoder``, encoding ``piece`` texts per call and calling ``give_way()`` before each call.

    Everything else (``count_tokens``, ``max_tokens``, ``id``, ...) is ``encoder``'s.
    """

    def __init__(self, encoder: Any, give_way: Callable[[], None], piece: int = PIECE_TEXTS) -> None:
        if piece < 1:
            raise ValueError(f"piece must be at least 1, got {piece}")
        self.inner = encoder
        self.give_way = give_way
        self.piece = piece

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not yet set (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.asarray(self.inner.encode([]), dtype=np.float32)
        parts = []
        for i in range(0, len(texts), self.piece):
            self.give_way()
            parts.append(np.asarray(self.inner.encode(texts[i: i + self.piece]), dtype=np.float32))
        return np.vstack(parts)

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        texts, spans = list(texts), [list(row) for row in spans]
        if not hasattr(self.inner, "encode_spans"):
            return encode_spans_apart(self, texts, spans)  # type: ignore[arg-type]
        if len(texts) <= self.piece:
            self.give_way()
            return self.inner.encode_spans(texts, spans)  # type: ignore[no-any-return]
        docs, pooled = [], []
        for i in range(0, len(texts), self.piece):
            self.give_way()
            D, S = self.inner.encode_spans(texts[i: i + self.piece], spans[i: i + self.piece])
            docs.append(np.asarray(D, dtype=np.float32))
            pooled.extend(S)
        return np.vstack(docs), pooled


class Lanes:
    """Where a suggestion runs: short texts at once and side by side, long ones one at a time, in pieces."""

    def __init__(self, long_chars: int = LONG_CHARS, max_wait_s: float = MAX_WAIT_S,
                 piece: int = PIECE_TEXTS, long_nice: int = LONG_NICE) -> None:
        self.long_chars = long_chars
        self.max_wait_s = max_wait_s
        self.piece = piece
        self._changed = threading.Condition()
        self._short = 0  # short suggestions under way
        self._worker = ThreadPoolExecutor(1, "goalmatch-long", initializer=lower_thread_priority, initargs=(long_nice,))

    def is_long(self, text: str) -> bool:
        return len(text) > self.long_chars

    def suggest(self, matcher: Any, text: str, **kwargs: Any) -> Any:
        """``matcher.suggest(text, **kwargs)`` in the lane the text's length picks."""
        if not self.is_long(text):
            with self._counted():
                return matcher.suggest(text, **kwargs)
        return self._worker.submit(self._long, matcher, text, kwargs).result()

    def give_way(self) -> None:
        """Wait until no short suggestion is under way, at most ``max_wait_s``."""
        with self._changed:
            self._changed.wait_for(lambda: self._short == 0, timeout=self.max_wait_s)

    def _long(self, matcher: Any, text: str, kwargs: Mapping[str, Any]) -> Any:
        started = time.monotonic()
        with_encoder = getattr(matcher, "with_encoder", None)
        if with_encoder is None:
            result = matcher.suggest(text, **kwargs)
        else:
            paced = PacedEncoder(_on_torch(matcher.encoder), self.give_way, self.piece)
            # the sentences' vectors from the passages' own pass (late chunking): a long text's
            # evidence costs no second encoding of its hundreds of sentences
            result = with_encoder(paced).suggest_many([text], sentences="late", **kwargs)[0]
        log.info("a long text (%d characters) suggested in %.1f s", len(text), time.monotonic() - started)
        return result

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._changed:
            self._short += 1
        try:
            yield
        finally:
            with self._changed:
                self._short -= 1
                self._changed.notify_all()


def lower_thread_priority(step: int, what: str = "the long lane") -> None:
    """Lower this thread's CPU priority by ``step`` (Linux: a thread is a task with its own nice value)."""
    if step <= 0 or sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError as exc:  # e.g. a container refusing it: the long lane runs at the same priority
        log.info("%s keeps its CPU priority (%s)", what, exc)


def _on_torch(encoder: Any) -> Any:
    """e5 on ``backend="auto"`` runs numpy for a call under 4,096 tokens (one passage is): the long
    lane's pieces run on torch, twice as fast a token, with its threads started by the lane's thread."""
    if getattr(encoder, "backend", None) != "auto" or not hasattr(encoder, "set_params"):
        return encoder
    if importlib.util.find_spec("torch") is None:
        return encoder
    from sklearn.base import clone

    return clone(encoder).set_params(backend="torch")
