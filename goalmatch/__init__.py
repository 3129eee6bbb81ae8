"""goalmatch: which strategy goals does a Swedish project description serve?

>>> import goalmatch
>>> sorted(goalmatch.frameworks())[:2]
['agenda-2030', 'leader-polaris-2016']
>>> goalmatch.frameworks()["rus-norrbotten-2030"].goal_ids
('rus-livsmiljoer', 'rus-transporter', 'rus-kompetens', 'rus-innovation')

A matcher suggests goals with evidence. ``goalmatch.load()`` opens the shipped model
(multilingual-e5-small); here a quick one is fitted with the test encoder instead:

>>> from goalmatch.embed.encoder import FakeEncoder
>>> rus = goalmatch.frameworks()["rus-norrbotten-2030"]
>>> matcher = goalmatch.Matcher.train([rus], goalmatch.load_corpora(), encoder=FakeEncoder())
>>> result = matcher.suggest("Vi bygger ut fiber, bredband och mobilnät i byarna och till företagen.")
>>> rus_result = result["rus-norrbotten-2030"]
>>> len(rus_result.suggestions), rus_result.suggestions[0].goal_id in rus.goal_ids
(3, True)
>>> sorted(result.to_dict())
['flags', 'frameworks', 'similar_projects']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from goalmatch._version import __version__
from goalmatch.data.corpus import Record, load_corpora
from goalmatch.data.frameworks import Framework, shipped_frameworks
from goalmatch.text.prepare import PreparedText, prepare

if TYPE_CHECKING:  # imported on first use: they pull in scikit-learn and scipy
    from goalmatch.model.classifier import GoalClassifier
    from goalmatch.model.matcher import Matcher

__all__ = [
    "Framework",
    "GoalClassifier",
    "Matcher",
    "PreparedText",
    "Record",
    "__version__",
    "frameworks",
    "load",
    "load_corpora",
    "prepare",
]

_LAZY = {"GoalClassifier": "goalmatch.model.classifier", "Matcher": "goalmatch.model.matcher"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'goalmatch' has no attribute {name!r}")


def frameworks() -> dict[str, Framework]:
    """The shipped strategy frameworks, keyed by id (loaded and validated once)."""
    return shipped_frameworks()


def load(path: str | Path | None = None, **kwargs: Any) -> Matcher:
    """Load a saved model folder; the shipped ``models/default`` when no path is given.

    Every file is checked against the model's manifest first (see :meth:`Matcher.load` and
    :func:`goalmatch.persistence.folder.read_model`, which take the keyword arguments). The
    encoder loads on the first suggestion.
    """
    from goalmatch.model.matcher import Matcher

    return Matcher.load(path, **kwargs)
