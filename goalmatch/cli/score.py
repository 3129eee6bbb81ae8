"""``goalmatch score`` and ``report``: a backlog table scored row by row, and the portfolio report
of a scored table.

The library (:mod:`goalmatch.batch.score`, :mod:`goalmatch.batch.portfolio`) raises; here the
arguments are read and the outcome is handed to :func:`goalmatch.cli.main.main`, which prints
it and turns an exception into a message and an exit code. ``score`` is resumable: interrupted
(exit code 130), or stopped by the machine (a full disk: exit code 1), it says to run the same
command again, which continues after the last committed chunk.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from goalmatch.batch.decisions import compare, comparison_sections, read_decisions
from goalmatch.batch.dialect import DIALECT_NAMES
from goalmatch.batch.layout import COLUMN_MODES, REASONS_SV
from goalmatch.batch.portfolio import portfolio, to_markdown, to_xlsx, write_markdown
from goalmatch.batch.report_charts import chart_files, portfolio_charts, xlsx_diagram
from goalmatch.batch.report_html import to_html, write_html
from goalmatch.batch.score import CHUNK_ROWS, Summary, score_file
from goalmatch.cli.command import EXIT_OK, EXIT_REJECTS, Outcome, comma_list, load_matcher
from goalmatch.errors import BadInput

__all__ = ["add_parsers", "portfolio_report", "run_report", "run_score", "score_table"]


def score_table(input: Path, output: Path | None = None, *, model: Path | None = None, **options: Any) -> Summary:
    """Score every row of ``input`` into ``output`` (default: ``INPUT.scores`` in INPUT's format) with
    the model folder ``model`` (the shipped default when None); ``options``: those of
    :func:`goalmatch.batch.score.score_file`."""
    output = output or input.with_name(f"{input.stem}.scores{input.suffix}")
    return score_file(input, output, matcher=load_matcher(model), **options)


def portfolio_report(scored: Path, output: Path | None = None, xlsx: Path | None = None,
                     max_projects: int | None = 200, *, html: Path | None = None,
                     decisions: Path | None = None) -> str:
    """The Markdown portfolio report of a scored table; also written to ``output`` (with its charts as
    SVG files beside it), as a workbook with native charts to ``xlsx`` and as one HTML file to
    ``html`` when given (each file whole or not at all). ``decisions``: the review app's export
    (JSONL), for the reviewed-vs-model tables and charts."""
    report = portfolio(scored)
    comparison = compare(report, read_decisions(decisions)) if decisions is not None else None
    sections = comparison_sections(report, comparison) if comparison is not None else []
    charts = portfolio_charts(report, comparison)
    if xlsx is not None:
        to_xlsx(report, xlsx, extra=xlsx_diagram(report, comparison))
    if html is not None:
        write_html(to_html(report, charts, sections, max_projects), html)
    if output is None:
        return to_markdown(report, max_projects, sections=sections)
    text = to_markdown(report, max_projects, charts=chart_files(charts, output), sections=sections)
    write_markdown(text, output)
    return text


def add_parsers(sub: Any) -> None:
    """Add ``score`` and ``report`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser(
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
    p.add_argument("--late-sentences", dest="sentences", action="store_const", const="late",
                   help="take the quoted sentence from the text's own encoding (no second encoding; less often "
                        "the sentence separate encoding picks, see docs/batch.md)")
    p.add_argument("--dialect", choices=DIALECT_NAMES, default="auto",
                   help="how a CSV/TSV output and the rejects file are written: auto = like the input CSV "
                        "(delimiter, encoding, decimal comma with ';'; Excel's ',' and UTF-8 with BOM for other "
                        "inputs), excel-sv = ';', decimal comma, UTF-8 with BOM (Swedish Excel), excel = ',', "
                        "decimal point, UTF-8 with BOM, utf8 = ',', decimal point, no BOM (default auto)")
    p.add_argument("--columns", choices=COLUMN_MODES, default="auto",
                   help="the score columns' headers: sv = Swedish, from the frameworks' names ('RUS: mål 1 – "
                        "sannolikhet'), ids = their ids ('rus-norrbotten-2030.p_1', for programs), auto = sv for "
                        "CSV, TSV and XLSX, ids for JSONL and Parquet (default auto); the input's own columns come "
                        "first either way")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_score, resumable=True)

    p = sub.add_parser("report", help="portfolio report of a scored backlog, with charts (Markdown, .xlsx, .html)",
                       description="Spread of a scored table over each framework's goals. Exit codes: "
                                   "0 ok, 2 bad input, 1 internal error.")
    p.add_argument("scored", type=Path, help="a table written by `goalmatch score`")
    p.add_argument("-o", "--output", type=Path, help="write the Markdown here (default: standard output)")
    p.add_argument("--xlsx", type=Path, help="also write the report as an Excel workbook (charts on the sheet "
                                             "'diagram')")
    p.add_argument("--html", type=Path, help="also write the report as one self-contained HTML file, charts inline")
    p.add_argument("--decisions", type=Path, help="the review app's export (JSONL): adds how often reviewers kept "
                                                  "the model's goals, and their corrections")
    p.add_argument("--max-projects", type=int, default=200, help="projects listed in the Markdown (default 200)")
    p.set_defaults(run=run_report)


def run_score(args: argparse.Namespace) -> Outcome:
    """The run's summary; exit code 3 when rows were rejected (the output is complete all the same)."""
    summary = score_table(
        args.input, args.output, model=args.model, id_column=args.id_column,
        text_columns=comma_list(args.text_columns), frameworks=comma_list(args.frameworks), top_k=args.top_k,
        rejects=args.rejects, chunk_rows=args.chunk_rows, resume=not args.restart, progress=args.progress,
        cache_dir=args.cache, engine=args.engine, scheduler=args.scheduler, sentences=args.sentences,
        dialect=args.dialect, columns=args.columns,
    )
    code = EXIT_REJECTS if summary.rejected else EXIT_OK
    if args.json:
        return Outcome(summary.to_dict(), code)
    resumed = f" ({summary.resumed} från den avbrutna körningen)" if summary.resumed else ""
    lines = [f"{summary.scored} av {summary.rows} rader bedömda, sparade i {summary.output}{resumed}"]
    if summary.rejected:
        reasons = ", ".join(f"{n} {REASONS_SV.get(r, r)}" for r, n in sorted(summary.reasons.items()))
        lines.append(f"{summary.rejected} {'rad avvisad' if summary.rejected == 1 else 'rader avvisade'} "
                     f"({reasons}); se {summary.rejects}")
    return Outcome(lines, code)


def run_report(args: argparse.Namespace) -> str:
    """The Markdown on standard output (without charts), or nothing where ``--output`` names its file
    (the charts are SVG files beside it)."""
    try:
        text = portfolio_report(args.scored, args.output, args.xlsx, args.max_projects, html=args.html,
                                decisions=args.decisions)
    except OSError as exc:  # a file the report could not read or write: the user's to fix
        raise BadInput(str(exc)) from None
    return "" if args.output is not None else text
