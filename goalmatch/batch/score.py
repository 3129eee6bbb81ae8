"""Batch scoring of application backlogs: a table of project texts in, a table of goals out.

:func:`score_file` reads CSV/TSV, Excel, JSONL or Parquet (see :mod:`goalmatch.batch.tables`)
in chunks, scores each chunk through the matcher with one encoder call, and writes one
output row per input row, in input order, in the format the output's extension names:

- ``row`` (1-based data row number), ``id`` (the id column's value, else the row number),
  ``status`` (``scored``, or ``rejected: <reason>``), ``excerpt`` (the text's first 100 characters);
- the text flags ``language``, ``repaired``, ``too_short``;
- per framework ``<fid>.abstained``, ``<fid>.confident`` (the goals it stands behind,
  ``;``-separated), ``<fid>.goal_k``, ``<fid>.name_k``, ``<fid>.p_k`` for k = 1..top_k,
  ``<fid>.evidence`` (the best sentence and the strategy passage it matched) and
  ``<fid>.reason`` (why it abstained).

**Bad rows never stop a run.** A row with an empty or missing text, bytes the file's
encoding cannot decode, a text over :data:`MAX_CHARS` characters (long texts under it are
read passage by passage by the matcher), an empty or duplicate id (the first use wins),
a broken JSON line, or one the matcher fails on is written as ``rejected`` and listed in
the rejects file (``OUTPUT``'s name with ``.rejects.csv``; columns row, id, reason, detail).

**Resumable and atomic.** Scored chunks are committed to ``OUTPUT.partial/`` (one JSON
file per chunk, written, fsynced and renamed into place). A rerun with the same input,
model and options continues after the last committed chunk, so an interrupted run (Ctrl-C,
``kill -9``) loses no row and repeats none; the output appears, by rename, only when every
row is done, and the journal is then removed.

Exit codes of ``goalmatch score``: 0 every row scored, 3 finished with rejected rows (the
output is complete; see the rejects file), 2 bad invocation (unreadable input, unknown
column or framework), 1 internal error, 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.batch.journal import Journal as _Journal
from goalmatch.batch.journal import Progress as _Progress
from goalmatch.batch.tables import Row, Table, TableError, format_of, open_table, publish, undecodable
from goalmatch.errors import BatchError
from goalmatch.model.render import columns as output_columns  # the table renderer, under its batch names
from goalmatch.model.render import row as _scored_row
from goalmatch.text.prepare import MAX_TEXT_CHARS

__all__ = ["MAX_CHARS", "BatchError", "Summary", "score_file", "suggest_many"]

logger = logging.getLogger(__name__)

MAX_CHARS = MAX_TEXT_CHARS  # kept under its batch name: the documented limit of a row
"""Texts longer than this (about 60 pages) are rejected as not a project description."""
CHUNK_ROWS = 64
"""Rows per chunk: one encoder call and one journal commit each."""
TEXT_COLUMNS = ("text", "description", "beskrivning", "projektbeskrivning", "sammanfattning", "summary")
TITLE_COLUMNS = ("title", "titel", "projektnamn", "name", "namn")
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_REJECTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Summary:
    """What a run did. ``resumed``: rows taken from an earlier, interrupted run's journal."""

    output: Path
    rejects: Path
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    resumed: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "rejects": str(self.rejects), "rows": self.rows, "scored": self.scored,
                "rejected": self.rejected, "resumed": self.resumed, "seconds": round(self.seconds, 2),
                "reasons": dict(sorted(self.reasons.items()))}


# ------------------------------------------------------------------ scoring many texts


def suggest_many(
    matcher: Any, texts: Sequence[str], top_k: int = 3, frameworks: Sequence[str] | None = None,
    sentences: bool = True,
) -> list[Any]:
    """``matcher.suggest_many(texts, top_k, frameworks)``; see :meth:`goalmatch.model.matcher.Matcher.suggest_many`.

    Kept for callers of the batch module: the batching itself lives in the matcher.
    """
    if sentences:
        return matcher.suggest_many(texts, top_k, frameworks)  # type: ignore[no-any-return]
    return matcher.suggest_many(texts, top_k, frameworks, sentences=False)  # type: ignore[no-any-return]


class _CachedEncoder:
    """An encoder seen through an :class:`~goalmatch.persistence.folder.EmbeddingCache` (everything else forwarded)."""

    def __init__(self, encoder: Any, cache: Any) -> None:
        self._encoder, self._cache = encoder, cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._cache.encode(list(texts))  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


# ------------------------------------------------------------------ rows in


@dataclass(frozen=True)
class _Columns:
    id: str | None
    text: tuple[str, ...]


def choose_columns(table: Table, id_column: str | None, text_columns: Sequence[str] | None) -> _Columns:
    """Check the named columns exist; with no text columns, find a title and a description column by name."""
    known = {c.lower(): c for c in table.columns}

    def find(name: str, option: str) -> str:
        if name in table.columns:
            return name
        if name.lower() in known:
            return known[name.lower()]
        raise BatchError(f"{table.path}: no column {name!r} for {option}; the columns are: {', '.join(table.columns)}")

    ident = find(id_column, "the id") if id_column else None
    if text_columns:
        return _Columns(ident, tuple(find(c, "the text") for c in text_columns))
    text = next((known[c] for c in TEXT_COLUMNS if c in known), None)
    if text is None:
        raise BatchError(f"{table.path}: no text column found (looked for {', '.join(TEXT_COLUMNS)}); name it with "
                         f"--text-columns; the columns are: {', '.join(table.columns)}")
    title = next((known[c] for c in TITLE_COLUMNS if c in known and known[c] != ident), None)
    return _Columns(ident, (title, text) if title else (text,))


def _check_row(row: Row, cols: _Columns, seen: dict[str, int]) -> tuple[str, str | None, str | None, str]:
    """``(id, reason, detail, text)``: reason is None for a row to score."""
    row_id = str(row.number)
    if row.error is not None:
        return row_id, "bad row", f"row {row.number}: {row.error}", ""
    if cols.id is not None:
        value = row.cells.get(cols.id)
        if value is None or not value.strip():
            return "", "missing id", f"row {row.number}, column {cols.id}: empty id", ""
        row_id = value.strip()
        if undecodable(row_id):
            return row_id.encode("utf-8", "replace").decode(), "undecodable", \
                f"row {row.number}, column {cols.id}: bytes not valid in the file's encoding", ""
        if row_id in seen:
            return row_id, "duplicate id", f"row {row.number}, column {cols.id}: id {row_id!r} already used " \
                                           f"by row {seen[row_id]}", ""
    parts = []
    for col in cols.text:
        value = row.cells.get(col)
        if value is not None and undecodable(value):
            return row_id, "undecodable", f"row {row.number}, column {col}: bytes not valid in the file's " \
                                          f"encoding", ""
        if value and value.strip():
            parts.append(value.strip())
    text = "\n\n".join(parts)
    if not text:
        return row_id, "empty text", f"row {row.number}, column {'/'.join(cols.text)}: no text", ""
    if len(text) > MAX_CHARS:
        return row_id, "too long", f"row {row.number}, column {'/'.join(cols.text)}: {len(text):,} characters, " \
                                   f"over the limit of {MAX_CHARS:,}", ""
    return row_id, None, None, text


def _rejected_row(number: int, row_id: str, reason: str) -> dict[str, Any]:
    return {"row": number, "id": row_id, "status": f"rejected: {reason}"}


# ------------------------------------------------------------------ the run


def score_file(
    input: str | Path,
    output: str | Path,
    *,
    matcher: Any,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    frameworks: Sequence[str] | None = None,
    top_k: int = 3,
    rejects: str | Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
    resume: bool = True,
    progress: bool | None = None,
    cache_dir: str | Path | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    sentences: bool = True,
) -> Summary:
    """Score every row of ``input`` into ``output`` (formats from the extensions); see the module docstring.

    ``text_columns`` are joined with a blank line (title, then description); left out, a
    title-like and a text-like column are found by name. Without ``id_column`` a row's id
    is its row number. ``progress``: a tqdm bar (True), log lines (False), or a bar only
    on a terminal (None). ``cache_dir`` keeps embeddings per chunk (keyed by the texts'
    sha256 and the encoder's checksum), so rescoring after retraining the heads does not
    encode again. Raises :class:`BatchError` before any row is scored when the run cannot
    start; ``KeyboardInterrupt`` leaves the committed chunks for the next run. ``engine="dask"``
    scores the chunks on the dask.distributed cluster at ``scheduler`` (see :mod:`goalmatch.batch.dask`);
    the rows are checked, and the output written, here, so the result is the local one.
    ``sentences=False`` leaves the quoted sentence out of the evidence column and does not
    encode the texts' sentences (about twice as fast; goals and probabilities are the same).
    """
    started = time.monotonic()
    input, output = Path(input), Path(output)
    if not isinstance(top_k, int) or top_k < 1:
        raise BatchError(f"top_k must be a positive integer, got {top_k!r}")
    if engine not in ("local", "dask"):
        raise BatchError(f"engine must be 'local' or 'dask', got {engine!r}")
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise BatchError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    try:
        format_of(output)
        table = open_table(input)
        ids = matcher.framework_ids(frameworks)
    except (TableError, ValueError) as exc:
        raise BatchError(str(exc)) from None
    if output.resolve() == input.resolve():
        raise BatchError(f"{output}: the output would overwrite the input; name another file")
    rejects = Path(rejects) if rejects is not None else output.with_name(f"{output.stem}.rejects.csv")
    cols = choose_columns(table, id_column, text_columns)
    columns, types = output_columns(ids, top_k)
    stat = input.stat()
    fingerprint = {"input": str(input.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                   "id_column": cols.id, "text_columns": list(cols.text), "frameworks": ids, "top_k": top_k,
                   "model": _model_key(matcher), "journal": 1, **({} if sentences else {"sentences": False})}
    journal = _Journal(output, fingerprint, resume)
    summary = Summary(output, rejects)
    seen: dict[str, int] = {}
    done = 0
    for chunk in journal.done():
        done = int(chunk["end"])
        summary.resumed += done - int(chunk["start"]) + 1
        _tally(summary, chunk["rows"], chunk["rejects"])
        if cols.id is not None:
            seen.update((r["id"], r["row"]) for r in chunk["rows"] if r["status"] == "scored")
    total = sum(1 for _ in table.rows())
    if done:
        logger.info("%s: resuming after row %d of %d", input, done, total)
    meter = _Progress(progress, total, done)
    scorer = _local_scorer(matcher, top_k, ids, cache_dir, sentences) if engine == "local" else \
        _dask_scorer(matcher, top_k, ids, scheduler, sentences)
    try:
        window = getattr(scorer, "window", 1)
        pending: list[list[Row]] = [[]]
        for row in table.rows():
            if row.number <= done:
                continue
            pending[-1].append(row)
            if len(pending[-1]) == chunk_rows:
                if len(pending) == window:
                    _run_chunks(scorer, pending, cols, seen, top_k, journal, summary, meter)
                    pending = []
                pending.append([])
        _run_chunks(scorer, [b for b in pending if b], cols, seen, top_k, journal, summary, meter)
    finally:
        meter.close()
        getattr(scorer, "close", lambda: None)()
    publish(rejects, ["row", "id", "reason", "detail"], journal.iter_rows("rejects"))
    publish(output, columns, journal.iter_rows("rows"), types)
    shutil.rmtree(journal.dir, ignore_errors=True)
    summary.seconds = time.monotonic() - started
    logger.info("%s: %d rows, %d scored, %d rejected in %.1f s", output, summary.rows, summary.scored,
                summary.rejected, summary.seconds)
    return summary


def _run_chunks(
    scorer: Any, chunks: list[list[Row]], cols: _Columns, seen: dict[str, int], top_k: int, journal: _Journal,
    summary: Summary, meter: _Progress,
) -> None:
    """Check the rows of ``chunks`` in order, score their texts (one call), commit each chunk in order."""
    checked = []
    for batch in chunks:
        out: list[dict[str, Any]] = []
        rejects: list[dict[str, Any]] = []
        todo: list[tuple[int, int, str, str]] = []
        for row in batch:
            row_id, reason, detail, text = _check_row(row, cols, seen)
            if reason is not None:
                out.append(_rejected_row(row.number, row_id, reason))
                rejects.append({"row": row.number, "id": row_id, "reason": reason, "detail": detail})
                continue
            if cols.id is not None:
                seen[row_id] = row.number
            todo.append((len(out), row.number, row_id, text))
            out.append({})
        checked.append((batch, out, rejects, todo))
    results = scorer([[t for *_, t in todo] for *_, todo in checked]) if checked else []
    for (batch, out, rejects, todo), texts_results in zip(checked, results, strict=True):
        for (i, number, row_id, text), result in zip(todo, texts_results, strict=True):
            if isinstance(result, Exception):
                out[i] = _rejected_row(number, row_id, "scoring failed")
                rejects.append({"row": number, "id": row_id, "reason": "scoring failed",
                                "detail": f"row {number}: {type(result).__name__}: {result}"})
            else:
                out[i] = _scored_row(number, row_id, text, result, top_k)
        rejects.sort(key=lambda r: r["row"])
        journal.commit(batch[0].number, batch[-1].number, out, rejects)
        _tally(summary, out, rejects)
        meter.update(len(batch))


def score_texts(matcher: Any, texts: list[str], top_k: int, ids: list[str], cache_dir: str | Path | None = None,
                sentences: bool = True) -> list[Any]:
    """Suggestions for one chunk's texts (one encoder call); a text the matcher fails on gets its exception."""
    if not texts:
        return []
    cache = None
    if cache_dir is not None:
        from goalmatch.persistence.folder import EmbeddingCache

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


def _local_scorer(matcher: Any, top_k: int, ids: list[str], cache_dir: str | Path | None, sentences: bool) -> Any:
    return lambda chunks: [score_texts(matcher, texts, top_k, ids, cache_dir, sentences) for texts in chunks]


def _dask_scorer(matcher: Any, top_k: int, ids: list[str], scheduler: str | None, sentences: bool) -> Any:
    from goalmatch.batch.dask import DaskScorer

    return DaskScorer(matcher, top_k, ids, scheduler, sentences)


def _one(matcher: Any, text: str, top_k: int, ids: list[str], sentences: bool) -> Any:
    try:
        return suggest_many(matcher, [text], top_k, ids, sentences)[0]
    except OSError:
        raise
    except Exception as exc:
        return exc


def _tally(summary: Summary, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> None:
    summary.rows += len(rows)
    summary.rejected += len(rejects)
    summary.scored += len(rows) - len(rejects)
    summary.reasons.update(r["reason"] for r in rejects)


def _model_key(matcher: Any) -> str:
    encoder = matcher.encoder
    facts = [getattr(encoder, "id", None), getattr(encoder, "checksum", None), sorted(matcher.heads),
             json.dumps(matcher.info, sort_keys=True, default=str)]
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()


# ------------------------------------------------------------------ command line


def add_score_parser(subparsers: Any) -> argparse.ArgumentParser:
    """The ``goalmatch score`` command; its handler is :func:`run_score` (``args.handler``)."""
    p = subparsers.add_parser(
        "score", help="score a backlog table of project texts (CSV, TSV, Excel, JSONL, Parquet)",
        description="Score every row of a table; bad rows go to a rejects file; an interrupted run resumes. "
                    "Exit codes: 0 all rows scored, 3 done with rejected rows, 2 bad invocation, 1 internal "
                    "error, 130 interrupted.")
    p.add_argument("input", type=Path, help="the table (.csv .tsv .xlsx .jsonl .parquet)")
    p.add_argument("-o", "--output", type=Path, help="the scored table; its extension picks the format "
                                                     "(default: INPUT.scores with INPUT's format)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped models/default)")
    p.add_argument("--id-column", help="column with each row's id (default: the row number)")
    p.add_argument("--text-columns", help="comma-separated columns joined with a blank line, e.g. title,beskrivning "
                                          "(default: a title and a text column found by name)")
    p.add_argument("--frameworks", help="comma-separated framework ids (default: all of the model's)")
    p.add_argument("--top-k", type=int, default=3, help="goals per framework (default 3)")
    p.add_argument("--rejects", type=Path, help="rejects file (default: OUTPUT's name with .rejects.csv)")
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help=f"rows per chunk (default {CHUNK_ROWS})")
    p.add_argument("--restart", action="store_true", help="discard an interrupted run's journal and start over")
    p.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on a terminal only; otherwise log lines)")
    p.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="score here, or on a dask.distributed cluster (needs goalmatch[dask])")
    p.add_argument("--scheduler", help="the dask scheduler's address, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--no-sentences", dest="sentences", action="store_false",
                   help="leave the quoted sentence out of the evidence column: the texts' sentences are not "
                        "encoded, about twice as fast; goals and probabilities are the same")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=run_score)
    return p


def run_score(args: argparse.Namespace) -> int:
    """Run ``goalmatch score``; returns the exit code (see :func:`add_score_parser`)."""
    import goalmatch
    from goalmatch.persistence.folder import ModelError

    output = args.output or args.input.with_name(f"{args.input.stem}.scores{args.input.suffix}")
    split = (lambda v: [x.strip() for x in v.split(",") if x.strip()] if v else None)  # noqa: E731
    try:
        matcher = goalmatch.load(args.model)
        summary = score_file(
            args.input, output, matcher=matcher, id_column=args.id_column, text_columns=split(args.text_columns),
            frameworks=split(args.frameworks), top_k=args.top_k, rejects=args.rejects, chunk_rows=args.chunk_rows,
            resume=not args.restart, progress=args.progress, cache_dir=args.cache, engine=args.engine,
            scheduler=args.scheduler, sentences=args.sentences,
        )
    except KeyboardInterrupt:
        sys.stderr.write("goalmatch: interrupted; run the same command again to resume\n")
        return EXIT_INTERRUPTED
    except (BatchError, ModelError, TableError) as exc:
        sys.stderr.write(f"goalmatch: error: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:  # the machine's fault (disk full, I/O): what is done is in the journal
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"goalmatch: error: {where}{exc.strerror or exc}; fix it and run the same command "
                         "again to resume\n")
        return EXIT_INTERNAL
    except Exception as exc:
        logger.debug("internal error", exc_info=True)
        sys.stderr.write(f"goalmatch: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_INTERNAL
    if args.json:
        sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(summary.reasons.items()))
        sys.stdout.write(f"scored {summary.scored} of {summary.rows} rows into {summary.output}"
                         f"{f' ({summary.resumed} from the interrupted run)' if summary.resumed else ''}\n")
        if summary.rejected:
            sys.stdout.write(f"rejected {summary.rejected} ({reasons}); see {summary.rejects}\n")
    return EXIT_REJECTS if summary.rejected else EXIT_OK
