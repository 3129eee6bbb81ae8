"""Small SVG charts written by hand: horizontal bars and columns, no plotting library.

The portfolio report (:mod:`goalmatch.batch.report_files`) draws with these, and so does the review
app's dashboard (:mod:`goalmatch.web.charts`; web may import batch, not the other way round). A
chart is a plain string of SVG: every text in it is XML-escaped here, so it can go into a page or a
file as it is; the colours are presentation attributes (no ``style``, so a page's
Content-Security-Policy holds). A chart is accessible: ``role="img"``, a ``<title>`` and a
``<desc>`` that say in words what it shows, and every value is written as text beside its bar, so
nothing is said by colour alone. Numbers are written the Swedish way by the caller.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["BAR", "MUTED", "TRACK", "Bar", "columns", "hbars", "svg_id"]

BAR = "#0b3d5c"
MUTED = "#9a6700"
TRACK = "#e8f0f7"
AXIS = "#555555"
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its length (``value``, in the chart's units) and the text written at its end.
    A ``muted`` bar is drawn in another colour and striped, for a bar of another kind than the rest
    (abstentions beside a histogram): its label must say what it is, the colour only repeats it."""

    label: str
    value: float
    text: str
    muted: bool = False


def svg_id(text: str) -> str:
    """An id usable in SVG/HTML from any text: ``svg_id("Mål: RUS")`` → ``'mal-rus'``."""
    plain = text.casefold().translate(str.maketrans("åäöéü", "aaoeu"))
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "diagram"


def _open(chart_id: str, width: int, height: int, title: str, description: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc" {FONT}>'
            f'<title id="{chart_id}-title">{escape(title)}</title>'
            f'<desc id="{chart_id}-desc">{escape(description)}</desc>')


def _stripes(chart_id: str) -> str:
    return (f'<defs><pattern id="{chart_id}-stripes" width="6" height="6" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{MUTED}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2"/></pattern></defs>')


def _short(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def _wrapped(label: str, chars: int, x: float) -> str:
    """A label in lines of about ``chars`` characters (at most three), as escaped ``<tspan>`` lines."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > 3:
        lines = [*lines[:2], _short(" ".join(lines[2:]), chars)]
    return "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else 12}">{escape(line)}</tspan>'
                   for i, line in enumerate(lines or [""]))


def hbars(bars: Sequence[Bar], *, title: str, description: str, chart_id: str, scale: float | None = None,
          track: bool = False, width: int = 640, bar_height: int = 22, label_width: int = 240) -> str:
    """One horizontal bar per item, its label left of it and its text at its end; an empty string
    when there are no bars. ``scale``: the value of a full-length bar (default: the largest value);
    ``track``: draw the full length faintly behind each bar (for shares) and write the text after it.
    Each bar is one ``<g>`` with its own ``<title>`` (label and text), for a pointer's tooltip.

    >>> svg = hbars([Bar("<Mål>", 2, "2")], title="T", description="D", chart_id="t")
    >>> "&lt;Mål&gt;" in svg and "<Mål>" not in svg and svg.count("<g>") == 1
    True
    """
    if not bars:
        return ""
    text_width, gap = 110, 8
    plot = width - label_width - text_width
    top = max((b.value for b in bars), default=0.0)
    full = scale if scale else (top or 1.0)
    height = len(bars) * (bar_height + gap) + gap
    chars = max(8, label_width // 7)
    parts = [_open(chart_id, width, height, title, description)]
    if any(b.muted for b in bars):
        parts.append(_stripes(chart_id))
    for i, bar in enumerate(bars):
        y = gap + i * (bar_height + gap)
        mid = y + bar_height / 2
        length = plot * max(0.0, min(bar.value / full, 1.0))
        fill = f"url(#{chart_id}-stripes)" if bar.muted else BAR
        end = label_width + (plot if track else length) + 6
        parts.append(
            f'<g><title>{escape(bar.label)}: {escape(bar.text)}</title>'
            f'<text x="{label_width - 6}" y="{mid:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="13">{escape(_short(bar.label, chars))}</text>'
            + (f'<rect x="{label_width}" y="{y}" width="{plot}" height="{bar_height}" fill="{TRACK}"/>'
               if track else "")
            + f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{fill}"/>'
            f'<text x="{end:.1f}" y="{mid:.1f}" dominant-baseline="middle" font-size="13">'
            f'{escape(bar.text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(top: float) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``, evenly spaced (1, 2, 5, 10, 20, … apart), at most six.

    >>> _ticks(3), _ticks(7), _ticks(230)
    ([0, 1, 2, 3], [0, 2, 4, 6, 8], [0, 50, 100, 150, 200, 250])
    """
    step, factors = 1, itertools.cycle((2, 2.5, 2))
    while math.ceil(top / step) > 5:
        step = int(step * next(factors))
    return list(range(0, math.ceil(top / step) * step + 1, step))


def columns(bars: Sequence[Bar], *, title: str, description: str, chart_id: str, x_label: str, y_label: str,
            width: int = 640, height: int = 300) -> str:
    """Vertical columns on a linear axis from 0 (a histogram of counts): each column's text above it,
    its label under it, the axis titled in words; a ``muted`` column stands apart, after a gap.
    An empty string when there are no bars.

    >>> svg = columns([Bar("0–1", 3, "3"), Bar("ingen", 1, "1", muted=True)], title="T", description="D",
    ...               chart_id="c", x_label="x", y_label="y")
    >>> svg.count("<g>") == 2 and ">3<" in svg and ">ingen<" in svg
    True
    """
    if not bars:
        return ""
    left, right, top_pad, bottom = 56, 12, 24, 64
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ticks = _ticks(max((b.value for b in bars), default=0.0) or 1.0)
    full = ticks[-1] or 1
    slots = len(bars) + sum(1 for b in bars if b.muted)  # a muted column has an empty slot before it
    slot = plot_w / slots
    base = top_pad + plot_h
    parts = [_open(chart_id, width, height, title, description)]
    if any(b.muted for b in bars):
        parts.append(_stripes(chart_id))
    parts.append(f'<g class="axis" font-size="11" fill="{AXIS}">')
    for t in ticks:
        y = base - plot_h * t / full
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{TRACK}"/>'
                     f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle">{t}</text>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="{AXIS}"/>'
                 f'<text x="14" y="{top_pad + plot_h / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top_pad + plot_h / 2:.1f})">{escape(y_label)}</text>'
                 f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>'
                 '</g>')
    position = 0
    for bar in bars:
        position += 2 if bar.muted else 1
        x = left + (position - 1) * slot + slot * 0.1
        h = plot_h * max(0.0, bar.value) / full
        fill = f"url(#{chart_id}-stripes)" if bar.muted else BAR
        centre = x + slot * 0.4
        parts.append(
            f'<g><title>{escape(bar.label)}: {escape(bar.text)}</title>'
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" fill="{fill}"/>'
            f'<text x="{centre:.1f}" y="{base - h - 5:.1f}" text-anchor="middle" font-size="12">'
            f'{escape(bar.text)}</text>'
            f'<text x="{centre:.1f}" y="{base + 16}" text-anchor="middle" font-size="10">'
            f'{_wrapped(bar.label, max(6, int(slot // 6)), centre)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
