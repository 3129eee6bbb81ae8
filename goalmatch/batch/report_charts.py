"""The portfolio report's charts: SVG for the Markdown and HTML reports, native Excel charts for the workbook.

Per framework: applications per goal (horizontal bars, goal names, the count at each bar's end) and
the model's confidence (a histogram of each project's highest probability on a linear axis, with
the projects the model stood behind no goal for as their own, striped bar "ingen säker träff").
With the review app's decisions (:mod:`goalmatch.batch.decisions`): how often the reviewers kept
the model's goals, per framework, and the most common corrections. Everything is Swedish: goal
names, decimal commas, alternative texts that say what the chart shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalmatch.batch.charts import Bar, columns, hbars, svg_id
from goalmatch.batch.decisions import CORRECTED, HEADING, Comparison
from goalmatch.batch.portfolio import Portfolio, percent
from goalmatch.batch.writers import write_atomic, xlsx_cell
from goalmatch.model import render

__all__ = ["ABSTAINED", "Chart", "chart_files", "confidence_bins", "portfolio_charts", "xlsx_diagram"]

ABSTAINED = "ingen säker träff"
BINS = 10
MOST_CORRECTIONS = 15


@dataclass(frozen=True)
class Chart:
    """One chart: ``place`` is the framework id (or section heading) it belongs under, ``slug`` its
    file name's part, ``title`` and ``description`` (the alternative text) in Swedish, ``svg`` the drawing."""

    place: str
    slug: str
    title: str
    description: str
    svg: str


def confidence_bins(report: Portfolio, fid: str) -> list[tuple[str, int]]:
    """Projects per band of their highest probability (0,0–0,1 … 0,9–1,0), those with a confident goal;
    then the projects without one, as ``ingen säker träff``."""
    counts = [0] * BINS
    abstained = 0
    for p in report.projects:
        if not p["goals"].get(fid):
            abstained += 1
            continue
        top = p["top"].get(fid)
        if top is not None:
            counts[min(BINS - 1, max(0, int(top * BINS)))] += 1
    labels = [f"{render.decimal_sv(k / BINS, 1)}–{render.decimal_sv((k + 1) / BINS, 1)}" for k in range(BINS)]
    return [*zip(labels, counts, strict=True), (ABSTAINED, abstained)]


def _goal_chart(report: Portfolio, fid: str, slug: str) -> Chart:
    goals = report.spread[fid]
    title = f"Ansökningar per mål: {fid}"
    listed = "; ".join(f"{g.name}: {g.projects}" for g in goals)
    description = (f"Liggande staplar, en per mål, med antalet projekt av {report.scored} bedömda där modellen står "
                   f"bakom målet. {listed}.")
    bars = [Bar(g.name, g.projects, f"{g.projects} ({percent(g.share)})") for g in goals]
    return Chart(fid, f"mal-{slug}", title, description,
                 hbars(bars, title=title, description=description, chart_id=f"mal-{slug}"))


def _confidence_chart(report: Portfolio, fid: str, slug: str) -> Chart:
    bins = confidence_bins(report, fid)
    title = f"Modellens säkerhet: {fid}"
    shown = "; ".join(f"{label}: {n}" for label, n in bins if n)
    description = (f"Stapeldiagram: antal projekt per steg om 0,1 i den högsta sannolikheten, för projekt med en säker "
                   f"träff; projekten utan säker träff som en egen randig stapel längst till höger. {shown}.")
    bars = [Bar(label, n, str(n), muted=label == ABSTAINED) for label, n in bins]
    svg = columns(bars, title=title, description=description, chart_id=f"sakerhet-{slug}",
                  x_label="högsta sannolikhet per projekt", y_label="antal projekt")
    return Chart(fid, f"sakerhet-{slug}", title, description, svg)


def _review_charts(report: Portfolio, comparison: Comparison) -> list[Chart]:
    rows = comparison.frameworks
    title = "Granskarna höll med modellen"
    listed = "; ".join(f"{f.framework_id}: {f.agreed} av {f.reviewed}" for f in rows)
    description = ("Liggande staplar per ramverk: andelen granskade projekt där granskaren valde samma mål som "
                   f"modellen. {listed}.")
    bars = [Bar(f.framework_id, f.rate or 0.0, f"{percent(f.rate or 0.0)} ({f.agreed} av {f.reviewed})") for f in rows]
    charts = [Chart(HEADING, "granskning", title, description,
                    hbars(bars, title=title, description=description, chart_id="granskning", scale=1.0, track=True))]
    names = {fid: {g.goal_id: g.name for g in report.spread.get(fid, [])} for fid in report.frameworks}
    changes = sorted(((n, f.framework_id, model, mine) for f in rows for (model, mine), n in f.corrections.items()),
                     key=lambda c: (-c[0], c[1]))[:MOST_CORRECTIONS]
    if changes:
        def goals(fid: str, ids: Sequence[str]) -> str:
            return ", ".join(names[fid].get(g, g) for g in ids) or "inget mål"

        bars = [Bar(f"{fid}: {goals(fid, model)} → {goals(fid, mine)}", n, str(n)) for n, fid, model, mine in changes]
        title = "Vanligaste rättelserna"
        description = ("Liggande staplar: hur ofta granskarna bytte modellens mål mot andra, modellens mål → "
                       "granskarens. " + "; ".join(f"{b.label}: {b.text}" for b in bars) + ".")
        charts.append(Chart(CORRECTED, "rattelser", title, description,
                            hbars(bars, title=title, description=description, chart_id="rattelser", label_width=380)))
    return charts


def portfolio_charts(report: Portfolio, comparison: Comparison | None = None) -> list[Chart]:
    """The report's charts, in the report's order (a framework's two, then the review's)."""
    charts, seen = [], Counter[str]()
    for fid in report.frameworks:
        slug = svg_id(fid)
        seen[slug] += 1  # two frameworks whose names differ only in case or accents keep their own files and ids
        slug = slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"
        charts += [_goal_chart(report, fid, slug), _confidence_chart(report, fid, slug)]
    if comparison is not None and comparison.frameworks:
        charts += _review_charts(report, comparison)
    return [c for c in charts if c.svg]


def chart_files(charts: Sequence[Chart], markdown: Path) -> dict[str, list[tuple[str, str]]]:
    """Write each chart as an SVG file next to the Markdown report (``STEM-SLUG.svg``), each whole;
    the links for :func:`goalmatch.batch.portfolio.to_markdown`: per place, (alternative text, file name)."""
    links: dict[str, list[tuple[str, str]]] = {}
    for chart in charts:
        name = f"{markdown.stem}-{chart.slug}.svg"
        write_atomic(markdown.with_name(name), '<?xml version="1.0" encoding="UTF-8"?>\n' + chart.svg + "\n")
        links.setdefault(chart.place, []).append((f"{chart.title}. {chart.description}", name))
    return links


# ------------------------------------------------------------------ the workbook's sheet "diagram"


def xlsx_diagram(report: Portfolio, comparison: Comparison | None = None) -> Any:
    """A function that adds the sheet ``diagram`` to a write-only workbook: each chart's figures as a
    small table and a native Excel bar chart beside it (no pictures); for
    :func:`goalmatch.batch.portfolio.to_xlsx`'s ``extra``."""
    blocks: list[tuple[str, str, str, list[tuple[str, float]]]] = []  # title, category axis, value axis, rows
    for fid in report.frameworks:
        blocks.append((f"Ansökningar per mål: {fid}", "mål", "antal projekt",
                       [(g.name, g.projects) for g in report.spread[fid]]))
        blocks.append((f"Modellens säkerhet: {fid}", "högsta sannolikhet per projekt", "antal projekt",
                       list(confidence_bins(report, fid))))
    if comparison is not None and comparison.frameworks:
        blocks.append(("Granskarna höll med modellen", "ramverk", "andel i procent",
                       [(f.framework_id, round(100 * (f.rate or 0.0))) for f in comparison.frameworks]))

    def add(book: Any) -> None:
        sheet = book.create_sheet("diagram")
        row = 1
        for title, category, value, rows in blocks:
            sheet.append([xlsx_cell(title), value])
            for label, number in rows:
                sheet.append([xlsx_cell(label), number])
            chart = _bar_chart(sheet, row, len(rows), title, (category, value), columns=category.startswith("högsta"))
            used = max(len(rows) + 2, int(chart.height * 2) + 3)  # a row is about half a centimetre high
            for _ in range(used - len(rows) - 1):
                sheet.append([])
            row += used
    return add


def _bar_chart(sheet: Any, row: int, n: int, title: str, axes: tuple[str, str], columns: bool) -> Any:
    """A native bar chart of the ``n`` rows under ``row`` (labels in A, numbers in B), anchored beside them:
    horizontal bars in the table's order (the first at the top), or ``columns`` left to right; the
    value written on each bar; axes titled, visible (openpyxl 3.1 otherwise marks them deleted)."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.label import DataLabelList

    chart = BarChart()
    chart.type, chart.title, chart.legend = "col" if columns else "bar", title, None
    chart.x_axis.title, chart.y_axis.title = axes
    chart.x_axis.delete = chart.y_axis.delete = False
    if not columns:
        chart.x_axis.scaling.orientation = "maxMin"
    chart.add_data(Reference(sheet, min_col=2, min_row=row, max_row=row + n), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=row + 1, max_row=row + n))
    chart.dataLabels = DataLabelList()
    chart.dataLabels.showVal = True
    chart.height, chart.width = max(7.5, 0.6 * n + 2), 18
    sheet.add_chart(chart, f"D{row}")
    return chart
