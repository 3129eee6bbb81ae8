"""The dask engine of batch scoring: chunks scored on dask.distributed workers (``goalmatch[dask]``).

The driver (:func:`goalmatch.batch.score.score_file`) reads and checks the rows, keeps the
journal and writes the output; only the texts of a window of chunks (two per worker)
travel to the cluster, and their suggestions come back in chunk order. Each worker loads
the model from its folder once (the folder must be readable at the same path on every
worker) and scores with :func:`goalmatch.batch.score.score_texts`, the local engine's own
function, so the output is the one a local run writes.

From a Dask DataFrame in Python, :func:`score_partition` is ready for ``map_partitions``
(each worker loads the model once), with :func:`partition_meta` as its ``meta``::

    import dask.dataframe as dd
    from goalmatch.batch.dask import partition_meta, score_partition

    ddf = dd.read_parquet("backlog/")
    scored = ddf.map_partitions(score_partition, model="models/default", id_column="diarienr",
                                text_columns=["titel", "beskrivning"],
                                meta=partition_meta("models/default"))
    scored.to_parquet("scored/")
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["DaskScorer", "partition_meta", "score_partition"]

logger = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _worker_matcher(model: str) -> Any:
    """The model, loaded once per worker process."""
    import goalmatch

    logger.info("loading model %s on this worker", model)
    return goalmatch.load(model)


def _score_chunk(texts: list[str], model: str, top_k: int, ids: list[str], sentences: bool = True) -> list[Any]:
    from goalmatch.batch.score import score_texts

    return score_texts(_worker_matcher(model), texts, top_k, ids, sentences=sentences)


class DaskScorer:
    """Scores lists of chunks on the cluster at ``scheduler`` (an address such as ``tcp://127.0.0.1:8786``)."""

    def __init__(self, matcher: Any, top_k: int, ids: list[str], scheduler: str | None,
                 sentences: bool = True) -> None:
        from goalmatch.batch.score import BatchError

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


def _model_path(model: Any) -> str:
    from goalmatch._paths import models_dir

    return str(model) if model is not None else str(models_dir() / "default")


def partition_meta(model: Any = None, frameworks: list[str] | None = None, top_k: int = 3) -> Any:
    """An empty pandas DataFrame with :func:`score_partition`'s columns and dtypes (``meta=`` for dask)."""
    import pandas as pd

    from goalmatch.batch.score import output_columns

    ids = list(frameworks) if frameworks else list(_worker_matcher(_model_path(model)).heads)
    columns, types = output_columns(ids, top_k)
    dtype = {"int": "Int64", "float": "float64", "bool": "boolean"}
    return pd.DataFrame({c: pd.Series(dtype=dtype.get(types.get(c, ""), "object")) for c in columns})


def score_partition(df: Any, model: Any = None, *, text_columns: list[str], id_column: str | None = None,
                    frameworks: list[str] | None = None, top_k: int = 3, sentences: bool = True) -> Any:
    """Score one pandas DataFrame (a Dask partition): one output row per input row, same index.

    The columns are those of ``goalmatch score`` (:func:`partition_meta`); ``row`` counts rows
    within the partition from 1. Rows with no text, undecodable or over-long text, or an id
    repeated *within the partition*, get ``status`` ``rejected: REASON`` and no scores (ids
    repeated across partitions cannot be seen from one partition). The model is loaded once
    per process from its folder (``None``: the shipped default).
    """
    import pandas as pd

    from goalmatch.batch.score import _check_row, _rejected_row, choose_columns, score_texts
    from goalmatch.batch.tables import Row, Table
    from goalmatch.model import render

    missing = [c for c in [*text_columns, *([id_column] if id_column else [])] if c not in df.columns]
    if missing:
        raise KeyError(f"no column(s) {', '.join(map(repr, missing))} in the partition; "
                       f"its columns are: {', '.join(map(str, df.columns))}")
    matcher = _worker_matcher(_model_path(model))
    ids = matcher.framework_ids(frameworks)
    meta = partition_meta(model, ids, top_k)
    table = Table(Path("partition"), "jsonl", [str(c) for c in df.columns])
    cols = choose_columns(table, id_column, text_columns)
    seen: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    todo: list[tuple[int, int, str, str]] = []
    for number, record in enumerate(df.to_dict("records"), start=1):
        cells = {str(k): (None if _missing(v) else str(v)) for k, v in record.items()}
        row_id, reason, _detail, text = _check_row(Row(number, cells), cols, seen)
        if reason is not None:
            out.append(_rejected_row(number, row_id, reason))
            continue
        if cols.id is not None:
            seen[row_id] = number
        todo.append((len(out), number, row_id, text))
        out.append({})
    results = score_texts(matcher, [t for *_, t in todo], top_k, ids, sentences=sentences)
    for (i, number, row_id, text), result in zip(todo, results, strict=True):
        out[i] = _rejected_row(number, row_id, "scoring failed") if isinstance(result, Exception) \
            else render.row(number, row_id, text, result, top_k)
    frame = pd.DataFrame(out, columns=list(meta.columns), index=df.index)
    return frame.astype(meta.dtypes.to_dict())


def _missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are not missing
        return False
