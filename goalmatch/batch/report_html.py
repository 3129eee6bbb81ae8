"""The portfolio report as one self-contained HTML file, in Swedish: the Markdown report's tables with
its charts drawn inline (SVG), no scripts, no files or fonts from elsewhere.

Every text from the scored table (goal names, ids, excerpts) is escaped here; the charts escape
their own labels (:mod:`goalmatch.batch.charts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from goalmatch.batch.portfolio import EXPLANATION, Portfolio, Section, about, abstained_line, project_rows, spread_rows
from goalmatch.batch.report_charts import Chart
from goalmatch.batch.writers import write_atomic

__all__ = ["to_html", "write_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1a1a1a; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ccd6dd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
td.tal { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; overflow-x: auto; }
figcaption { font-size: 0.9rem; color: #444; }
dt { font-weight: 600; }
dd { margin: 0 0 0.4rem 0; }
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td class="tal">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures(charts: Sequence[Chart]) -> str:
    return "".join(f"<figure>{c.svg}<figcaption>{escape(c.title)}</figcaption></figure>" for c in charts)


def to_html(report: Portfolio, charts: Sequence[Chart] = (), sections: Sequence[Section] = (),
            max_projects: int | None = 200) -> str:
    """The whole report as one HTML document (``lang="sv"``): about, per framework its charts and spread
    table, the further ``sections`` (the review comparison) with theirs, then the projects."""
    placed: dict[str, list[Chart]] = {}
    for chart in charts:
        placed.setdefault(chart.place, []).append(chart)
    title = f"Portfölj: {report.source.name}"
    parts = ['<!DOCTYPE html>\n<html lang="sv"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>",
             f"<h1>{escape(title)}</h1><dl>"]
    parts += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in about(report)]
    parts.append(f"</dl><p>{escape(EXPLANATION)}</p>")
    for fid in report.frameworks:
        parts.append(f"<section><h2>{escape(fid)}</h2><p>{escape(abstained_line(report, fid))}</p>")
        parts.append(_figures(placed.get(fid, [])))
        header, rows = spread_rows(report, fid)
        parts.append(_table(header, rows, numeric=(1, 2, 3, 4)) + "</section>")
    for section in sections:
        parts.append(f"<section><h2>{escape(section.heading)}</h2><p>{escape(section.lead)}</p>")
        parts.append(_figures(placed.get(section.heading, [])))
        parts.append(_table(section.header, section.rows) + "</section>")
    header, rows = project_rows(report)
    shown = rows if max_projects is None else rows[:max_projects]
    parts.append(f"<section><h2>Projekt</h2>{_table(header, shown)}")
    if len(shown) < len(rows):
        parts.append(f"<p>… och {len(rows) - len(shown)} projekt till (alla finns i Excel-filen).</p>")
    parts.append("</section></main></body></html>\n")
    return "\n".join(parts)


def write_html(text: str, path: str | Path) -> Path:
    """Write the HTML report whole (the old file or the whole new one)."""
    dest = Path(path)
    write_atomic(dest, text)
    return dest
