"""The support floor of :class:`~goalmatch.model.classifier.GoalClassifier`: below it a text is off-topic.

A text's *support* (:func:`goalmatch.model.features.pair_features`) is how related it is to the
strategy at all: the mean of its best cosine similarities to the closest goal's texts. Off-topic
text (a recipe, lorem ipsum) has a lower support than real project texts, but the scale is the
encoder's, not the framework's, so the floor is set from real project texts:

- **with project texts** given to ``fit`` (labelled or not: the backlog, the corpus): the
  :data:`FLOOR_QUANTILE` quantile of their support, so about that share of real projects
  like them abstains (before issue 13 it was their minimum, which one odd project could pull
  down: lorem ipsum was answered by two trained heads);
- **without any** (zero-shot, a framework no project was seen for): the encoder's prior floor
  (:data:`PRIOR_FLOORS`), measured on real projects of *other* frameworks. Before issue 13 a
  zero-shot head had no floor at all, and abstained on 10-49 % of the off-topic set.

How the prior was set (in-domain data only; the off-topic set was not looked at): for each
shipped framework, the 1 % quantile of the zero-shot support of the 43 records of
``corpora/projects`` (its labelled ones where there are any): 0.867 (Agenda 2030), 0.845
(Polaris), 0.845 (Spira Mare), 0.840 (Tornedalen), 0.853 (national), 0.847 (RUS); the prior is
their median, 0.846. The two Danish benchmark frameworks, whose projects are test material,
did not set it; their own quantiles (0.838 dk 2007, 0.854 dk 2014) show that it transfers to a
framework and a language it never saw, and with them the median of all eight is the same 0.846.
Used leave-one-framework-out (the median of the other seven), it kept 0-4 % of each framework's
own projects out, except Polaris (1 of 8) and Tornedalen (7 % of the 43 records, none labelled
for it), while a hand-written development set of 24 everyday texts (not the benchmark's
off-topic set) abstained on 71-100 % (Agenda 2030, whose 604 texts include English, the
lowest). Scores normalised by the framework's own texts (z-score or median of the strategy
texts' held-out support) transferred worse than the raw scale: the encoder's cosine scale is
what real projects share across frameworks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FLOOR_QUANTILE", "PRIOR_FLOORS", "encoder_id", "prior_floor", "support_floor"]

FLOOR_QUANTILE = 0.02
"""The share of the project texts given to ``fit`` that fall under the floor ``"auto"`` sets."""
PRIOR_FLOORS = {"multilingual-e5-small": 0.846}
"""Encoder id prefix → the floor of a head fitted on no project text (see the module docstring)."""


def encoder_id(encoder: Any) -> str | None:
    """The id of ``encoder``, or of the encoder an embedding cache wraps; ``None`` if it has none."""
    for candidate in (encoder, getattr(encoder, "encoder", None)):
        value = getattr(candidate, "id", None)
        if isinstance(value, str):
            return value
    return None


def prior_floor(encoder: Any) -> float:
    """The prior floor of ``encoder`` (``-inf`` for an encoder without one: no floor)."""
    name = encoder_id(encoder)
    for prefix, floor in PRIOR_FLOORS.items():
        if name is not None and name.startswith(prefix):
            return floor
    return -np.inf


def support_floor(support: np.ndarray, encoder: Any) -> float:
    """The ``"auto"`` floor: the :data:`FLOOR_QUANTILE` quantile of the project texts' ``support``,
    or the encoder's prior floor where there are none."""
    support = np.asarray(support, dtype=np.float64)
    support = support[np.isfinite(support)]
    if not len(support):
        return prior_floor(encoder)
    return float(np.quantile(support, FLOOR_QUANTILE))
