"""Layer 1, data: strategy frameworks, labelled-project records, TRAIL22 and the seed documents.

Nothing here encodes, trains or scores; everything above reads its inputs through here.
"""

from goalmatch.data.corpus import CorpusError, Record, load_corpora, load_corpus
from goalmatch.data.frameworks import Framework, FrameworkError, Goal, load_frameworks, shipped_frameworks

__all__ = [
    "CorpusError",
    "Framework",
    "FrameworkError",
    "Goal",
    "Record",
    "load_corpora",
    "load_corpus",
    "load_frameworks",
    "shipped_frameworks",
]
