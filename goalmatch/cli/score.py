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
    """Add ``score`` and ``report`` to a ``goalmatch`` subparsers object (help in Swedish, for the case officer)."""
    p = sub.add_parser(
        "score", help="föreslå mål för en hel tabell med ansökningar (CSV, TSV, Excel, JSONL, Parquet)",
        description="Ger varje rad i en tabell förslag på mål; felaktiga rader hamnar i en fil med avvisade "
                    "rader; en avbruten körning fortsätter där den slutade. Slutkoder: 0 alla rader klara, "
                    "3 klar men med avvisade rader, 2 felaktigt anrop, 1 internt fel, 130 avbruten.")
    p.add_argument("input", type=Path, metavar="TABELL", help="tabellen (.csv .tsv .xlsx .jsonl .parquet)")
    p.add_argument("-o", "--output", type=Path, metavar="UTFIL",
                   help="den färdiga tabellen; filändelsen väljer format (standard: TABELL.scores i TABELLs format)")
    p.add_argument("--model", type=Path, metavar="MODELL", help="modellmapp (standard: den medföljande models/default)")
    p.add_argument("--id-column", metavar="KOLUMN", help="kolumnen med varje rads id (standard: radnumret)")
    p.add_argument("--text-columns", metavar="KOLUMNER",
                   help="kommaseparerade kolumner som fogas ihop med en tom rad emellan, t.ex. title,beskrivning "
                        "(standard: en rubrikkolumn och en textkolumn som hittas på namnet)")
    p.add_argument("--frameworks", metavar="RAMVERK",
                   help="kommaseparerade id:n för ramverken (standard: alla modellens)")
    p.add_argument("--top-k", type=int, default=3, metavar="ANTAL", help="mål per ramverk (standard 3)")
    p.add_argument("--rejects", type=Path, metavar="FIL",
                   help="filen med avvisade rader (standard: UTFILs namn med .rejects.csv)")
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, metavar="ANTAL",
                   help=f"rader per omgång (standard {CHUNK_ROWS})")
    p.add_argument("--restart", action="store_true", help="släng en avbruten körnings journal och börja om")
    p.add_argument("--cache", type=Path, metavar="MAPP", help="mapp där textvektorerna sparas mellan körningar")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="förloppsindikator (standard: bara i en terminal; annars loggrader)")
    p.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="räkna här (local) eller på ett dask.distributed-kluster (kräver goalmatch[dask])")
    p.add_argument("--scheduler", metavar="ADRESS", help="dask-schemaläggarens adress, t.ex. tcp://127.0.0.1:8786")
    p.add_argument("--no-sentences", dest="sentences", action="store_false",
                   help="utelämna den citerade meningen i beläggkolumnen: textens meningar kodas inte, ungefär "
                        "dubbelt så snabbt; mål och sannolikheter blir desamma")
    p.add_argument("--late-sentences", dest="sentences", action="store_const", const="late",
                   help="ta den citerade meningen ur textens egen kodning (ingen andra kodning; väljer oftare en "
                        "annan mening än separat kodning, se docs/batch.md)")
    p.add_argument("--dialect", choices=DIALECT_NAMES, default="auto",
                   help="hur en CSV/TSV-utfil och filen med avvisade rader skrivs: auto = som indatans CSV "
                        "(avgränsare, teckenkodning, decimalkomma med ';'; Excels ',' och UTF-8 med BOM för annan "
                        "indata), excel-sv = ';', decimalkomma, UTF-8 med BOM (svenska Excel), excel = ',', "
                        "decimalpunkt, UTF-8 med BOM, utf8 = ',', decimalpunkt, ingen BOM (standard auto)")
    p.add_argument("--columns", choices=COLUMN_MODES, default="auto",
                   help="rubrikerna på sannolikhetskolumnerna: sv = svenska, från ramverkens namn ('RUS: mål 1 – "
                        "sannolikhet'), ids = deras id:n ('rus-norrbotten-2030.p_1', för program), auto = sv för "
                        "CSV, TSV och XLSX, ids för JSONL och Parquet (standard auto); indatans egna kolumner "
                        "kommer först i båda fallen")
    p.add_argument("--json", action="store_true", help="skriv sammanfattningen som JSON")
    p.set_defaults(run=run_score, resumable=True)

    p = sub.add_parser("report", help="portföljrapport över en bedömd tabell, med diagram (Markdown, .xlsx, .html)",
                       description="Hur en bedömd tabells ansökningar fördelar sig över varje ramverks mål. "
                                   "Slutkoder: 0 klart, 2 felaktig indata, 1 internt fel.")
    p.add_argument("scored", type=Path, metavar="TABELL", help="en tabell skriven av `goalmatch score`")
    p.add_argument("-o", "--output", type=Path, metavar="FIL",
                   help="skriv rapporten (Markdown) hit (standard: standard ut)")
    p.add_argument("--xlsx", type=Path, metavar="FIL",
                   help="skriv också rapporten som en Excel-arbetsbok (diagrammen på bladet 'diagram')")
    p.add_argument("--html", type=Path, metavar="FIL",
                   help="skriv också rapporten som en fristående HTML-fil, med diagrammen i filen")
    p.add_argument("--decisions", type=Path, metavar="FIL",
                   help="granskningsappens export (JSONL): lägger till hur ofta granskarna behöll modellens mål, "
                        "och deras rättelser")
    p.add_argument("--max-projects", type=int, default=200, metavar="ANTAL",
                   help="ansökningar som listas i rapporten (standard 200)")
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
