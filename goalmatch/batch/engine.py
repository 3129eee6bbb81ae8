"""The engines of batch scoring: where a run's chunks of texts become suggestions.

:func:`score_texts` scores one chunk's texts with one encoder call; a text the matcher
fails on gets its exception instead of its suggestions, so one bad text never sinks its
chunk. A scorer (:func:`make_scorer`) takes a list of chunks (each a list of texts) and
returns their results in the same order; ``window`` says how many chunks it wants at once:

- ``local`` (:class:`LocalScorer`): :func:`score_texts` here, one chunk at a time;
- ``dask`` (:class:`DaskScorer`, ``goalmatch[dask]``): the texts of a window of chunks (two
  per worker) travel to dask.distributed workers. Each worker loads the model from its
  folder once (:func:`worker_matcher`; the folder must be readable at the same path on
  every worker) and scores with the same :func:`score_texts`, so the output is the one a
  local run writes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.errors import BatchError

__all__ = ["DaskScorer", "LocalScorer", "make_scorer", "score_texts", "suggest_many", "worker_matcher"]

logger = logging.getLogger(__name__)


def suggest_many(
    matcher: Any, texts: Sequence[str], top_k: int = 3, frameworks: Sequence[str] | None = None,
    sentences: bool | str = True,
) -> list[Any]:
    """``matcher.suggest_many(texts, top_k, frameworks)``; see :meth:`goalmatch.model.matcher.Matcher.suggest_many`.

    Kept for callers of the batch module: the batching itself lives in the matcher.
    """
    if sentences is True:
        return matcher.suggest_many(texts, top_k, frameworks)  # type: ignore[no-any-return]
    return matcher.suggest_many(texts, top_k, frameworks, sentences=sentences)  # type: ignore[no-any-return]


class _CachedEncoder:
    """An encoder seen through an :class:`~goalmatch.embed.cache.EmbeddingCache` (everything else forwarded)."""

    def __init__(self, encoder: Any, cache: Any) -> None:
        self._encoder, self._cache = encoder, cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._cache.encode(list(texts))  # type: ignore[no-any-return]

    def encode_spans(self, texts: Sequence[str], spans: Any) -> Any:
        return self._cache.encode_spans(list(texts), spans)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


def score_texts(matcher: Any, texts: list[str], top_k: int, ids: list[str], cache_dir: str | Path | None = None,
                sentences: bool | str = True) -> list[Any]:
    """Suggestions for one chunk's texts (one encoder call); a text the matcher fails on gets its exception."""
    if not texts:
        return []
    cache = None
    if cache_dir is not None:
        from goalmatch.embed.cache import EmbeddingCache

        key = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:20]
        cache = EmbeddingCache(matcher.encoder, Path(cache_dir) / "batch" / key)
        matcher = matcher.with_encoder(_CachedEncoder(matcher.encoder, cache))
    try:
        results: list[Any] = suggest_many(matcher, texts, top_k, ids, sentences)
    except OSError:
        raise  # the machine's fault (disk full, I/O), not the texts': stop; the journal keeps what is done
    except Exception as exc:  # one bad text must not sink its chunk: score them one by one
        logger.warning("%s: %s; scoring the chunk's %d texts one by one", type(exc).__name__, exc, len(texts))
        results = [_one(matcher, t, top_k, ids, sentences) for t in texts]
    if cache is not None:
        cache.save()
    return results


def _one(matcher: Any, text: str, top_k: int, ids: list[str], sentences: bool | str) -> Any:
    try:
        return suggest_many(matcher, [text], top_k, ids, sentences)[0]
    except OSError:
        raise
    except Exception as exc:
        return exc


def make_scorer(engine: str, matcher: Any, top_k: int, ids: list[str], *, cache_dir: str | Path | None = None,
                scheduler: str | None = None, sentences: bool | str = True) -> LocalScorer | DaskScorer:
    """The scorer of ``engine`` (``local`` or ``dask``); ``cache_dir`` serves the local one, ``scheduler`` dask."""
    if engine == "local":
        return LocalScorer(matcher, top_k, ids, cache_dir, sentences)
    return DaskScorer(matcher, top_k, ids, scheduler, sentences)


class LocalScorer:
    """Scores chunks here, one after the other; ``cache_dir`` keeps their embeddings (see :func:`score_texts`)."""

    window = 1

    def __init__(self, matcher: Any, top_k: int, ids: list[str], cache_dir: str | Path | None = None,
                 sentences: bool | str = True) -> None:
        self.matcher, self.top_k, self.ids, self.cache_dir, self.sentences = matcher, top_k, ids, cache_dir, sentences

    def __call__(self, chunks: list[list[str]]) -> list[list[Any]]:
        return [score_texts(self.matcher, texts, self.top_k, self.ids, self.cache_dir, self.sentences)
                for texts in chunks]

    def close(self) -> None:
        """Nothing to release."""


@lru_cache(maxsize=2)
def worker_matcher(model: str) -> Any:
    """The model saved in the folder ``model``, loaded once per process (on a dask worker: once per worker)."""
    from goalmatch.model.matcher import Matcher

    logger.info("loading model %s on this worker", model)
    return Matcher.load(model)


def _score_chunk(texts: list[str], model: str, top_k: int, ids: list[str], sentences: bool | str = True) -> list[Any]:
    return score_texts(worker_matcher(model), texts, top_k, ids, sentences=sentences)


class DaskScorer:
    """Scores lists of chunks on the cluster at ``scheduler`` (an address such as ``tcp://127.0.0.1:8786``)."""

    def __init__(self, matcher: Any, top_k: int, ids: list[str], scheduler: str | None,
                 sentences: bool | str = True) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise BatchError("the dask engine needs dask.distributed: pip install 'goalmatch[dask]'") from None
        model = matcher.info.get("path")
        if not model:
            raise BatchError("the dask engine needs a model saved in a folder (workers load it from there); "
                             "save the matcher with Matcher.save and load it with goalmatch.load")
        if not scheduler:
            raise BatchError("the dask engine needs the scheduler's address (--scheduler tcp://HOST:PORT)")
        try:
            self.client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise BatchError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        workers = len(self.client.scheduler_info().get("workers", {}))
        if workers == 0:
            self.client.close()
            raise BatchError(f"the dask scheduler at {scheduler} has no workers")
        self.window = 2 * workers
        self.model, self.top_k, self.ids, self.sentences = str(model), top_k, list(ids), sentences
        logger.info("scoring on %d dask workers at %s", workers, scheduler)

    def __call__(self, chunks: list[list[str]]) -> list[list[Any]]:
        futures = self.client.map(_score_chunk, chunks, model=self.model, top_k=self.top_k, ids=self.ids,
                                  sentences=self.sentences, pure=False)
        return self.client.gather(futures)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.client.close()
