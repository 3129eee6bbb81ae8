"""Server-rendered SVG charts for the dashboard: plain strings, no JavaScript, no plotting library.

The drawing is :mod:`goalmatch.batch.charts`'s, shared with the portfolio report: every label is
XML-escaped there, so the markup can go into a page as it is; the colours are presentation
attributes (not ``style``), so the page's Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from goalmatch.batch.charts import BAR, TRACK, Bar, hbars

__all__ = ["BAR", "TRACK", "agreement_bars"]


def agreement_bars(rows: Iterable[Mapping[str, Any]], *, width: int = 640, bar_height: int = 22) -> str:
    """A horizontal bar per framework: share of reviews where reviewer and model agreed.

    ``rows`` are :func:`goalmatch.web.review.agreement` rows (``name``, ``agreed``,
    ``reviewed``, ``rate``); an empty string when there is nothing to draw.

    >>> svg = agreement_bars([{"name": "<Leader>", "agreed": 1, "reviewed": 4, "rate": 0.25}])
    >>> "&lt;Leader&gt;" in svg and "<Leader>" not in svg and "25 % (1/4)" in svg
    True
    """
    bars = []
    for row in rows:
        if not row.get("reviewed"):
            continue
        rate = float(row.get("rate") or 0.0)
        name = str(row.get("name") or row.get("framework_id") or "")
        bars.append(Bar(name, rate, f"{100 * rate:.0f} % ({int(row.get('agreed', 0))}/{int(row['reviewed'])})"))
    listed = "; ".join(f"{b.label}: {b.text}" for b in bars)
    return hbars(bars, title="Överensstämmelse modell–granskare per ramverk", chart_id="agreement", scale=1.0,
                 track=True, width=width, bar_height=bar_height,
                 description=f"Andel granskningar där granskaren valde samma mål som modellen, per ramverk. {listed}.")
