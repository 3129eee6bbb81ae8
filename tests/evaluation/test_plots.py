"""Issue 15, item 6: the evaluation plots read by a non-statistician: linear axes, the learning curve's
sizes as evenly spaced categories, the number of predictions on each reliability bin, legends under
the axes rather than over the lines. The figures are drawn from hand-made metrics (no evaluation run).
"""

from __future__ import annotations

from typing import Any

import pytest

from goalmatch.evaluation import report

pytest.importorskip("matplotlib")


def _pooled(bins: list[tuple[float, float, int]]) -> dict[str, Any]:
    return {"ece": 0.05, "reliability": [{"lo": c - 0.05, "hi": c + 0.05, "confidence": c, "accuracy": a, "count": n}
                                         for c, a, n in bins],
            "abstention": [{"coverage": 1.0, "accuracy": 0.6}, {"coverage": 0.5, "accuracy": 0.8}]}


PANELS = [("rus", {"multi_label": False, "methods": {
    "goalmatch": {"pooled": _pooled([(0.35, 0.3, 12), (0.62, 0.55, 40), (0.91, 0.88, 7)])},
    "TF-IDF + LR": {"pooled": _pooled([(0.5, 0.5, 59)])}}})]


@pytest.fixture()
def plt() -> Any:
    plt = report.pyplot()
    yield plt
    plt.close("all")


def _texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_reliability_bins_carry_their_counts(plt: Any) -> None:
    fig = report.reliability_figure(plt, PANELS)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "linear")
    assert _texts(ax) == ["n=12", "n=40", "n=7"]
    assert ax.get_legend() is None and len(fig.legends) == 1  # the legend is the figure's, under the axes
    assert fig.legends[0].get_bbox_to_anchor().y0 <= fig.bbox.y0 + 1


def test_the_learning_curve_has_evenly_spaced_sizes_on_a_linear_axis(plt: Any) -> None:
    curve = {str(n): {"labelled_used": 3 * n, "macro_f1": 0.2 + n / 100, "top1": 0.5, "std": {"macro_f1": 0.01}}
             for n in (0, 1, 2, 5, 20)}
    fig = report.learning_curve_figure(plt, [("rus", curve, False)])
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert list(ax.get_xticks()) == [0, 1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "5", "20"]
    assert ax.get_legend() is None and len(fig.legends) == 1


def test_the_abstention_legend_is_under_the_axes(plt: Any) -> None:
    fig = report.abstention_figure(plt, PANELS)
    assert fig.axes[0].get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["goalmatch", "TF-IDF + LR"]
