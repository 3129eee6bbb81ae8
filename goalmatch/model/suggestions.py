"""What a suggestion is: plain, frozen result objects with ``to_dict()`` for JSON.

:class:`Suggestions` holds one :class:`FrameworkSuggestions` per framework; each
:class:`Suggestion` carries its :class:`Evidence` (the input sentences that drove it, the
strategy passage it matched, similar projects and shared terms). Offsets are into the
text the user gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = [
    "Evidence", "FrameworkSuggestions", "PassageEvidence", "ProjectEvidence", "SentenceEvidence",
    "Suggestion", "Suggestions",
]


@dataclass(frozen=True)
class _Plain:
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (floats rounded to 4 decimals, infinities as ``None``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, _Plain):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), 4) if np.isfinite(value) else None
    if isinstance(value, np.bool_ | np.integer):
        return value.item()
    return value


@dataclass(frozen=True)
class SentenceEvidence(_Plain):
    """A sentence of the input that speaks for a goal; ``start``/``end`` index the original text."""

    start: int
    end: int
    text: str  # the sentence as read (repaired, whitespace tidied)
    probability: float  # the goal's probability for this sentence alone
    similarity: float  # its best cosine similarity to the goal's strategy texts


@dataclass(frozen=True)
class PassageEvidence(_Plain):
    """The strategy text a suggestion matched best.

    ``kind`` is ``name``, ``alias``, ``description`` or ``example`` of the goal itself, or
    ``target`` for a sub-goal's text (an SDG target, an insatsområde's mål); ``goal_id``
    names the goal or sub-goal the text belongs to.
    """

    goal_id: str
    kind: str
    text: str
    similarity: float


@dataclass(frozen=True)
class ProjectEvidence(_Plain):
    """A reference project close to the input, with its labels in the framework at hand."""

    id: str
    title: str | None
    similarity: float
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Evidence(_Plain):
    """Why a goal was suggested: input sentences, strategy passage, similar projects, shared terms."""

    sentences: tuple[SentenceEvidence, ...]
    passage: PassageEvidence | None
    projects: tuple[ProjectEvidence, ...]
    key_terms: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion(_Plain):
    """One ranked goal; ``confident`` when the classifier would choose it (not abstained)."""

    goal_id: str
    name: str
    probability: float
    confident: bool
    evidence: Evidence


@dataclass(frozen=True)
class FrameworkSuggestions(_Plain):
    """The ranked goals of one framework. ``abstained``: no confident match, ``reason`` says why.

    ``support`` is how related the text is to the strategy at all (mean of the best cosine
    similarities to the closest goal's texts); below ``min_similarity`` the matcher abstains.
    """

    framework_id: str
    name: str
    multi_label: bool
    abstained: bool
    reason: str | None
    support: float
    min_similarity: float
    suggestions: tuple[Suggestion, ...]

    @property
    def confident(self) -> tuple[Suggestion, ...]:
        """The suggestions the classifier stands behind."""
        return tuple(s for s in self.suggestions if s.confident)


@dataclass(frozen=True)
class Suggestions(_Plain):
    """All frameworks' suggestions for one text, its flags and the nearest reference projects."""

    flags: Mapping[str, object]
    frameworks: tuple[FrameworkSuggestions, ...]
    similar_projects: tuple[ProjectEvidence, ...]

    def __getitem__(self, framework_id: str) -> FrameworkSuggestions:
        for result in self.frameworks:
            if result.framework_id == framework_id:
                return result
        known = ", ".join(r.framework_id for r in self.frameworks)
        raise KeyError(f"no suggestions for framework {framework_id!r}; have: {known}")
