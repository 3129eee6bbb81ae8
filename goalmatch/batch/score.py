"""Batch scoring of application backlogs: a table of project texts in, a table of goals out.

:func:`score_file` opens the input (CSV/TSV, Excel, JSONL or Parquet; see :mod:`goalmatch.batch.tables`),
resumes the journal of an interrupted run, checks the rows chunk by chunk
(:mod:`goalmatch.batch.rows`), scores each chunk's texts with one encoder call, here or on a
dask cluster (:mod:`goalmatch.batch.engine`), commits each chunk to the journal, and at the
end publishes one output row per input row, in input order, in the format the output's
extension names (:mod:`goalmatch.batch.writers`; a CSV/TSV and the rejects file in the input's
dialect or a named one, :mod:`goalmatch.batch.dialect`): first every column of the input, as it
was (:mod:`goalmatch.batch.layout`), then

- ``row`` (1-based data row number), ``id`` (the id column's value, else the row number),
  ``status`` (``scored``, or ``rejected: <reason>``; ``bedömd``, ``avvisad: <skäl>`` under Swedish
  headers), ``excerpt`` (the text's first 100 characters);
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
file per chunk, written, fsynced and renamed into place). A rerun with the same input (the same bytes),
model and options continues after the last committed chunk, so an interrupted run (Ctrl-C,
``kill -9``) loses no row and repeats none; the output appears, by rename, only when every
row is done, and the journal is then removed. A run holds ``OUTPUT.lock`` (and the rejects
file's) until it is done: a second run on the same output is refused, naming the run that
holds it, so two runs never mix their rows or remove each other's journal.

Exit codes of ``goalmatch score``: 0 every row scored, 3 finished with rejected rows (the
output is complete; see the rejects file), 2 bad invocation (unreadable input, unknown
column or framework), 1 internal error, 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from goalmatch._io import LockHeld, exclusive_lock
from goalmatch.batch.dialect import Dialect, choose_dialect
from goalmatch.batch.engine import DaskScorer, LocalScorer, make_scorer, suggest_many
from goalmatch.batch.journal import Journal, Progress
from goalmatch.batch.layout import Layout, carry, column_mode, make_layout, rejects_layout
from goalmatch.batch.rows import MAX_CHARS, Columns, check_chunk, choose_columns
from goalmatch.batch.tables import Row, Table, TableError, format_of, open_table
from goalmatch.batch.writers import publish
from goalmatch.errors import BatchError
from goalmatch.model import render

__all__ = ["MAX_CHARS", "BatchError", "Summary", "score_file", "suggest_many"]

logger = logging.getLogger(__name__)

CHUNK_ROWS = 64
"""Rows per chunk: one encoder call and one journal commit each."""


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
    sentences: bool | str = True,
    dialect: str = "auto",
    columns: str = "ids",
) -> Summary:
    """Score every row of ``input`` into ``output`` (formats from the extensions); see the module docstring.

    ``text_columns`` are joined with a blank line (title, then description); left out, a
    title-like and a text-like column are found by name. Without ``id_column`` a row's id
    is its row number. ``progress``: a tqdm bar (True), log lines (False), or a bar only
    on a terminal (None). ``cache_dir`` keeps embeddings per chunk (keyed by the texts'
    sha256 and the encoder's checksum), so rescoring after retraining the heads does not
    encode again. Raises :class:`BatchError` before any row is scored when the run cannot
    start; ``KeyboardInterrupt`` leaves the committed chunks for the next run. ``engine="dask"``
    scores the chunks on the dask.distributed cluster at ``scheduler`` (see :mod:`goalmatch.batch.engine`);
    the rows are checked, and the output written, here, so the result is the local one.
    ``sentences=False`` leaves the quoted sentence out of the evidence column and does not
    encode the texts' sentences (about twice as fast; goals and probabilities are the same);
    ``sentences="late"`` takes them from the texts' own forward pass (see
    :meth:`goalmatch.model.matcher.Matcher.suggest_many`).
    ``dialect`` is how a CSV/TSV output and the rejects file are written (:mod:`goalmatch.batch.dialect`:
    ``auto`` mirrors a CSV input, ``excel-sv``, ``excel``, ``utf8``); ``columns`` how the score columns
    are headed (:mod:`goalmatch.batch.layout`: ``ids``, ``sv`` Swedish, ``auto`` Swedish for CSV, TSV and
    XLSX). The input's own columns are carried into the output before the scores.
    """
    started = time.monotonic()
    input, output = Path(input), Path(output)
    rejects = Path(rejects) if rejects is not None else output.with_name(f"{output.stem}.rejects.csv")
    table, cols, ids = _open_input(input, output, rejects, matcher, id_column, text_columns, frameworks, top_k,
                                   chunk_rows, engine)
    written = _Written.plan(table, output, rejects, matcher, ids, top_k, dialect, columns)
    with _lock(output, rejects):  # held until the output is published: a second run on it is refused, not mixed in
        journal = Journal(output, _fingerprint(input, cols, ids, top_k, matcher, sentences), resume)
        summary = _Run(table, cols, top_k, journal, Summary(output, rejects)).run(
            make_scorer(engine, matcher, top_k, ids, cache_dir=cache_dir, scheduler=scheduler, sentences=sentences),
            chunk_rows, progress, written)
    summary.seconds = time.monotonic() - started
    logger.info("%s: %d rows, %d scored, %d rejected in %.1f s", output, summary.rows, summary.scored,
                summary.rejected, summary.seconds)
    return summary


@contextlib.contextmanager
def _lock(*paths: Path) -> Iterator[None]:
    """The run's hold on its output and rejects files and the journal: ``FILE.lock`` beside each, removed at
    the end; a :class:`BatchError` naming the file and the other run when one holds it."""
    with contextlib.ExitStack() as held:
        for path in dict.fromkeys(p.resolve() for p in paths):
            try:
                held.enter_context(exclusive_lock(path.with_name(path.name + ".lock")))
            except LockHeld as exc:
                who = f" (pid {exc.holder})" if exc.holder else ""
                raise BatchError(f"{path}: another goalmatch score run{who} is writing this file; wait for it to "
                                 f"finish, or write to another file") from None
        yield


def _open_input(
    input: Path, output: Path, rejects: Path, matcher: Any, id_column: str | None, text_columns: Sequence[str] | None,
    frameworks: Sequence[str] | None, top_k: int, chunk_rows: int, engine: str,
) -> tuple[Table, Columns, list[str]]:
    """Check the options, open the input and find its columns and the frameworks: every way a run cannot start."""
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
    if _same_file(output, input):
        raise BatchError(f"{output}: the output would overwrite the input; name another file")
    if _same_file(rejects, input):
        raise BatchError(f"{rejects}: the rejects file would overwrite the input; name another file with --rejects"
                         f" (its default is OUTPUT's name with .rejects.csv)")
    if _same_file(rejects, output):
        raise BatchError(f"{rejects}: the rejects file and the output are the same file; name another one")
    return table, choose_columns(table, id_column, text_columns), ids


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are followed, or one inode (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def _fingerprint(input: Path, cols: Columns, ids: list[str], top_k: int, matcher: Any,
                 sentences: bool | str) -> dict[str, Any]:
    """What the run is: a journal left by a run with another fingerprint is not resumed."""
    return {"input": str(input.resolve()), **_content(input),
            "id_column": cols.id, "text_columns": list(cols.text), "frameworks": ids, "top_k": top_k,
            "model": _model_key(matcher), "journal": 2, **({} if sentences is True else {"sentences": sentences})}


def _content(input: Path) -> dict[str, Any]:
    """The input's size and the sha256 of its bytes: a file edited in place, its size and mtime restored
    (``cp -p``, ``rsync -t``, ``touch -r``), is a new input. Hashing reads at disk speed, far faster than
    encoding the rows."""
    digest, size = hashlib.sha256(), 0
    try:
        with input.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise BatchError(f"{input}: cannot read: {exc.strerror or exc}") from None
    return {"size": size, "sha256": digest.hexdigest()}


def _model_key(matcher: Any) -> str:
    encoder = matcher.encoder
    facts = [getattr(encoder, "id", None), getattr(encoder, "checksum", None), sorted(matcher.heads),
             json.dumps(matcher.info, sort_keys=True, default=str)]
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()


@dataclass
class _Run:
    """A run of :func:`score_file` once its input is open: resumed, scored chunk by chunk, published."""

    table: Table
    cols: Columns
    top_k: int
    journal: Journal
    summary: Summary
    seen: dict[str, int] = field(default_factory=dict)
    """The ids used so far, with the row that used each (the first use wins)."""
    done: int = 0
    """The last row the journal holds."""

    def run(self, scorer: LocalScorer | DaskScorer, chunk_rows: int, progress: bool | None,
            written: _Written) -> Summary:
        """Resume, score the remaining rows, publish: the whole run once the journal is open."""
        self.resume()
        total = sum(1 for _ in self.table.rows())
        if self.done:
            logger.info("%s: resuming after row %d of %d", self.table.path, self.done, total)
        meter = Progress(progress, total, self.done)
        try:
            self.score(scorer, chunk_rows, meter)
        finally:
            meter.close()
            scorer.close()
        self.publish(written)
        return self.summary

    def resume(self) -> None:
        """Take over what an interrupted run committed: its rows' counts and ids."""
        for chunk in self.journal.done():
            self.done = int(chunk["end"])
            self.summary.resumed += self.done - int(chunk["start"]) + 1
            self._tally(chunk["rows"], chunk["rejects"])
            if self.cols.id is not None:
                self.seen.update((r["id"], r["row"]) for r in chunk["rows"] if r["status"] == "scored")

    def score(self, scorer: LocalScorer | DaskScorer, chunk_rows: int, meter: Progress) -> None:
        """Score the rows after :attr:`done` in chunks of ``chunk_rows``, ``scorer.window`` chunks a call."""
        pending: list[list[Row]] = [[]]
        for row in self.table.rows():
            if row.number <= self.done:
                continue
            pending[-1].append(row)
            if len(pending[-1]) == chunk_rows:
                if len(pending) == scorer.window:
                    self._commit(scorer, pending, meter)
                    pending = []
                pending.append([])
        self._commit(scorer, [b for b in pending if b], meter)

    def _commit(self, scorer: LocalScorer | DaskScorer, batches: list[list[Row]], meter: Progress) -> None:
        """Check the rows of ``batches`` in order, score their texts (one call), commit each chunk in order."""
        chunks = [check_chunk(rows, self.cols, self.seen) for rows in batches]
        results = scorer([chunk.texts for chunk in chunks]) if chunks else []
        fill = partial(render.row, top_k=self.top_k)
        for chunk, texts_results in zip(chunks, results, strict=True):
            chunk.fill(texts_results, fill)
            self.journal.commit(chunk.rows[0].number, chunk.rows[-1].number, chunk.out, chunk.rejects)
            self._tally(chunk.out, chunk.rejects)
            meter.update(len(chunk.rows))

    def _tally(self, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> None:
        self.summary.rows += len(rows)
        self.summary.rejected += len(rejects)
        self.summary.scored += len(rows) - len(rejects)
        self.summary.reasons.update(r["reason"] for r in rejects)

    def publish(self, written: _Written) -> None:
        """Write the rejects and the output from the journal (each renamed into place), then remove the journal.

        The output's carried input columns are read from the input again (:func:`carry`)."""
        rejects, output = written.rejects, written.output
        publish(self.summary.rejects, rejects.keys, lambda: rejects.cells(self.journal.iter_rows("rejects")),
                headers=rejects.headers, dialect=written.dialect)
        publish(self.summary.output, output.keys, lambda: output.cells(carry(output, self.table.rows(),
                self.journal.iter_rows("rows"))), output.types, headers=output.headers, dialect=written.dialect)
        shutil.rmtree(self.journal.dir, ignore_errors=True)


@dataclass(frozen=True)
class _Written:
    """How a run's two files are written: the output's and the rejects file's columns, and the CSV dialect."""

    output: Layout
    rejects: Layout
    dialect: Dialect

    @classmethod
    def plan(cls, table: Table, output: Path, rejects: Path, matcher: Any, ids: list[str], top_k: int,
             dialect: str, columns: str) -> _Written:
        try:
            modes = column_mode(columns, format_of(output)), column_mode(columns, format_of(rejects))
        except TableError as exc:
            raise BatchError(str(exc)) from None
        names = _framework_names(matcher, ids)
        return cls(make_layout(render.columns(ids, top_k), modes[0], names, top_k, table.columns),
                   rejects_layout(modes[1]), choose_dialect(dialect, table))


def _framework_names(matcher: Any, ids: list[str]) -> dict[str, str]:
    """Framework id → its name (the id where the matcher cannot say), for Swedish headers."""
    try:
        known = matcher.frameworks
    except (AttributeError, KeyError, TypeError, ValueError):  # a stand-in matcher without frameworks: ids it is
        known = {}
    return {fid: getattr(known.get(fid), "name", None) or fid for fid in ids}
