"""What a suggestion is: plain, frozen result objects with ``to_dict()`` for JSON.

:class:`Suggestions` holds one :class:`FrameworkSuggestions` per framework; each
:class:`Suggestion` carries its :class:`Evidence` (the input sentences that drove it, the
strategy passage it matched, similar projects and shared terms). Offsets are into the
text the user gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = [
    "REASON_CODES", "Abstention", "Evidence", "FrameworkSuggestions", "PassageEvidence", "ProjectEvidence",
    "SentenceEvidence", "Suggestion", "Suggestions",
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


REASON_CODES = ("too_short", "off_topic", "below_probability", "below_thresholds")
"""Why a framework has no confident goal, as :attr:`FrameworkSuggestions.reason_code` names it:
``too_short`` the text is too short to judge; ``off_topic`` it is less related to the strategy
than nearly every real project text (the head's support floor, :mod:`goalmatch.model.floor`;
figures ``support``, ``min_similarity``);
``below_probability`` no goal reaches the head's probability threshold (figures
``best_probability``, ``threshold``); ``below_thresholds`` no goal reaches its own threshold
(figure ``best_probability``)."""


@dataclass(frozen=True)
class Abstention:
    """Why a head stands behind no goal: a code of :data:`REASON_CODES` and the figures behind it.

    :attr:`english` is the sentence kept in ``FrameworkSuggestions.reason`` (the API, ``--json``);
    people read :func:`goalmatch.model.render.reason_sv`.

    >>> Abstention("below_probability", {"best_probability": 0.31, "threshold": 0.4}).english
    'no goal reaches probability 0.4'
    """

    code: str
    figures: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in REASON_CODES:
            raise ValueError(f"unknown abstention code {self.code!r}; expected one of {', '.join(REASON_CODES)}")

    @property
    def english(self) -> str:
        """The reason as one English sentence (what ``reason`` held before the codes)."""
        f = self.figures
        if self.code == "too_short":
            return "the text is too short to judge; the ranking is a guess"
        if self.code == "off_topic":
            return (f"the text is less related to this strategy than nearly every real project text "
                    f"(support {f['support']:.3f} < {f['min_similarity']:.3f})")
        if self.code == "below_probability":
            return f"no goal reaches probability {f['threshold']:g}"
        return "no goal reaches its threshold"


@dataclass(frozen=True)
class FrameworkSuggestions(_Plain):
    """The ranked goals of one framework. ``abstained``: no confident match, ``reason`` says why.

    ``support`` is how related the text is to the strategy at all (mean of the best cosine
    similarities to the closest goal's texts); below ``min_similarity`` the matcher abstains.
    ``reason`` is an English sentence for programs and logs; ``reason_code`` (one of
    :data:`REASON_CODES`) and ``reason_figures`` are the same as data, from which
    :func:`goalmatch.model.render.reason_sv` writes the Swedish a case officer reads. Both are
    ``None`` and empty where the head stands behind a goal (and in suggestions stored before
    the codes existed).
    """

    framework_id: str
    name: str
    multi_label: bool
    abstained: bool
    reason: str | None
    support: float
    min_similarity: float
    suggestions: tuple[Suggestion, ...]
    reason_code: str | None = None
    reason_figures: Mapping[str, float] = field(default_factory=dict)

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
