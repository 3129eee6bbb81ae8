"""Scoring a Dask DataFrame partition by partition (``goalmatch[dask]``).

From a Dask DataFrame in Python, :func:`score_partition` is ready for ``map_partitions``
(each worker loads the model once), with :func:`partition_meta` as its ``meta``::

    import dask.dataframe as dd
    from goalmatch.batch.dask import partition_meta, score_partition

    ddf = dd.read_parquet("backlog/")
    scored = ddf.map_partitions(score_partition, model="models/default", id_column="diarienr",
                                text_columns=["titel", "beskrivning"],
                                meta=partition_meta("models/default"))
    scored.to_parquet("scored/")

Rows are checked as :func:`goalmatch.batch.score.score_file` checks them (:mod:`goalmatch.batch.rows`)
and scored with the same function (:func:`goalmatch.batch.engine.score_texts`). The dask
engine of ``score_file`` (``engine="dask"``: the driver reads the rows, keeps the journal and
writes the output; only the texts travel to the cluster) is
:class:`goalmatch.batch.engine.DaskScorer`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from goalmatch._paths import models_dir
from goalmatch.batch.engine import score_texts, worker_matcher
from goalmatch.batch.rows import check_chunk, choose_columns
from goalmatch.batch.tables import Row, Table
from goalmatch.model import render

__all__ = ["partition_meta", "score_partition"]


def _model_path(model: Any) -> str:
    return str(model) if model is not None else str(models_dir() / "default")


def partition_meta(model: Any = None, frameworks: list[str] | None = None, top_k: int = 3) -> Any:
    """An empty pandas DataFrame with :func:`score_partition`'s columns and dtypes (``meta=`` for dask)."""
    import pandas as pd

    ids = list(frameworks) if frameworks else list(worker_matcher(_model_path(model)).heads)
    columns, types = render.columns(ids, top_k)
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

    missing = [c for c in [*text_columns, *([id_column] if id_column else [])] if c not in df.columns]
    if missing:
        raise KeyError(f"no column(s) {', '.join(map(repr, missing))} in the partition; "
                       f"its columns are: {', '.join(map(str, df.columns))}")
    matcher = worker_matcher(_model_path(model))
    ids = matcher.framework_ids(frameworks)
    meta = partition_meta(model, ids, top_k)
    table = Table(Path("partition"), "jsonl", [str(c) for c in df.columns])
    cols = choose_columns(table, id_column, text_columns)
    rows = (Row(number, {str(k): (None if _missing(v) else str(v)) for k, v in record.items()})
            for number, record in enumerate(df.to_dict("records"), start=1))
    chunk = check_chunk(rows, cols, {})
    chunk.fill(score_texts(matcher, chunk.texts, top_k, ids, sentences=sentences), partial(render.row, top_k=top_k))
    frame = pd.DataFrame(chunk.out, columns=list(meta.columns), index=df.index)
    return frame.astype(meta.dtypes.to_dict())


def _missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are not missing
        return False
