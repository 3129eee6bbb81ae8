"""goalmatch: which strategy goals does a Swedish project description serve?

>>> import goalmatch
>>> sorted(goalmatch.frameworks())[:2]
['agenda-2030', 'leader-polaris-2016']
>>> goalmatch.frameworks()["rus-norrbotten-2030"].goal_ids
('rus-livsmiljoer', 'rus-transporter', 'rus-kompetens', 'rus-innovation')
"""

from __future__ import annotations

from functools import lru_cache

from goalmatch.corpus import Record, load_corpora
from goalmatch.taxonomy import Framework, load_frameworks
from goalmatch.text import PreparedText, prepare

__all__ = ["Framework", "PreparedText", "Record", "frameworks", "load_corpora", "prepare"]
__version__ = "0.1.0"


@lru_cache(maxsize=1)
def _shipped_frameworks() -> dict[str, Framework]:
    return load_frameworks()


def frameworks() -> dict[str, Framework]:
    """The shipped strategy frameworks, keyed by id (loaded and validated once)."""
    return dict(_shipped_frameworks())
