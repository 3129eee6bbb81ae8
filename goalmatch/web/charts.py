"""Server-rendered SVG charts for the dashboard: plain strings, no JavaScript, no plotting library.

Every label is XML-escaped here, so the markup can go into a page as it is; the colours
are presentation attributes (not ``style``), so the page's Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

__all__ = ["agreement_bars"]

BAR = "#0b3d5c"
TRACK = "#e8f0f7"


def agreement_bars(rows: Iterable[Mapping[str, Any]], *, width: int = 640, bar_height: int = 22) -> str:
    """A horizontal bar per framework: share of reviews where reviewer and model agreed.

    ``rows`` are :func:`goalmatch.web.review.agreement` rows (``name``, ``agreed``,
    ``reviewed``, ``rate``); an empty string when there is nothing to draw.

    >>> svg = agreement_bars([{"name": "<Leader>", "agreed": 1, "reviewed": 4, "rate": 0.25}])
    >>> "&lt;Leader&gt;" in svg and "<Leader>" not in svg and "25 %" in svg
    True
    """
    rows = [r for r in rows if r.get("reviewed")]
    if not rows:
        return ""
    label_w, value_w, gap = 240, 110, 8
    plot_w = width - label_w - value_w
    height = len(rows) * (bar_height + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-labelledby="agreement-title">',
             '<title id="agreement-title">Överensstämmelse modell–granskare per ramverk</title>']
    for i, row in enumerate(rows):
        rate = float(row.get("rate") or 0.0)
        y = gap + i * (bar_height + gap)
        mid = y + bar_height / 2
        name = str(row.get("name") or row.get("framework_id") or "")
        short = name if len(name) <= 34 else name[:33] + "…"
        text = f"{100 * rate:.0f} % ({int(row.get('agreed', 0))}/{int(row['reviewed'])})"
        parts.append(
            f'<g><title>{escape(name)}: {escape(text)}</title>'
            f'<text x="{label_w - 6}" y="{mid:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="13">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_height}" fill="{TRACK}"/>'
            f'<rect x="{label_w}" y="{y}" width="{plot_w * max(0.0, min(rate, 1.0)):.1f}" height="{bar_height}" '
            f'fill="{BAR}"/>'
            f'<text x="{label_w + plot_w + 6}" y="{mid:.1f}" dominant-baseline="middle" font-size="13">'
            f'{escape(text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
