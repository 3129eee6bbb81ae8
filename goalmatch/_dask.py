"""The dask engine of batch scoring: chunks scored on dask.distributed workers (``goalmatch[dask]``).

The driver (:func:`goalmatch.batch.score_file`) reads and checks the rows, keeps the
journal and writes the output; only the texts of a window of chunks (two per worker)
travel to the cluster, and their suggestions come back in chunk order. Each worker loads
the model from its folder once (the folder must be readable at the same path on every
worker) and scores with :func:`goalmatch.batch.score_texts`, the local engine's own
function, so the output is the one a local run writes.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

__all__ = ["DaskScorer"]

logger = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _worker_matcher(model: str) -> Any:
    """The model, loaded once per worker process."""
    import goalmatch

    logger.info("loading model %s on this worker", model)
    return goalmatch.load(model)


def _score_chunk(texts: list[str], model: str, top_k: int, ids: list[str], sentences: bool = True) -> list[Any]:
    from goalmatch.batch import score_texts

    return score_texts(_worker_matcher(model), texts, top_k, ids, sentences=sentences)


class DaskScorer:
    """Scores lists of chunks on the cluster at ``scheduler`` (an address such as ``tcp://127.0.0.1:8786``)."""

    def __init__(self, matcher: Any, top_k: int, ids: list[str], scheduler: str | None,
                 sentences: bool = True) -> None:
        from goalmatch.batch import BatchError

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
