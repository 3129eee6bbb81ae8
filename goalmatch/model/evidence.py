"""Why a goal is suggested: the evidence the :class:`~goalmatch.model.matcher.Matcher` shows.

Per suggestion, :meth:`StrategyIndex.evidence` gathers the input sentences that speak for the
goal most, the strategy text it matched best, the nearest reference projects labelled with
it (:class:`References`) and the lemmas it shares with the goal's own texts. The index of a
head's strategy texts is built once per framework and kept by the matcher.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from goalmatch.data.frameworks import Framework
from goalmatch.model.inputs import goal_texts
from goalmatch.model.suggestions import Evidence, PassageEvidence, ProjectEvidence, SentenceEvidence
from goalmatch.text.lemmas import keywords
from goalmatch.text.prepare import Passage, PreparedText

if TYPE_CHECKING:
    from goalmatch.model.classifier import GoalClassifier

__all__ = ["N_PROJECTS", "N_SENTENCES", "N_TERMS", "References", "StrategyIndex", "ranked"]

N_SENTENCES, N_PROJECTS, N_TERMS = 2, 3, 8
"""At most this many input sentences, reference projects and shared terms per suggestion."""
_QUIET_KINDS = frozenset({"alias"})  # "SDG 9", "Mål 9": they map labels, they explain nothing


def ranked(values: np.ndarray) -> np.ndarray:
    """Indices by decreasing value; values equal to 12 decimals (a sentence repeated in the text) keep
    their order, so float noise of batched arithmetic never reorders them."""
    return np.argsort(-np.round(values, 12), kind="stable")


@dataclass(frozen=True, eq=False)
class References:
    """The reference projects: ids, titles, labels per framework and unit-length embeddings."""

    ids: tuple[str, ...]
    titles: tuple[str | None, ...]
    labels: tuple[Mapping[str, tuple[str, ...]], ...]
    embeddings: np.ndarray

    def evidence(
        self, similarity: np.ndarray, rows: np.ndarray, framework_id: str | None
    ) -> tuple[ProjectEvidence, ...]:
        """The ``N_PROJECTS`` most similar of ``rows``; labels of one framework (all frameworks' if None)."""
        best = rows[np.argsort(-similarity[rows], kind="stable")[:N_PROJECTS]]
        return tuple(
            ProjectEvidence(
                self.ids[i], self.titles[i], float(similarity[i]),
                self.labels[i].get(framework_id, ()) if framework_id else tuple(
                    g for goals in self.labels[i].values() for g in goals),
            )
            for i in best
        )


@dataclass(frozen=True, eq=False)
class StrategyIndex:
    """A head's strategy texts as evidence, in the order of its prototypes (:func:`goal_texts`).

    Per text: ``owners`` (the goal or sub-goal it belongs to), ``kinds`` (``target`` for a
    sub-goal's text) and ``texts``. Per goal of the head (``classes_`` order): ``columns``, the
    texts that may be shown (aliases only where the goal has nothing else); ``terms``, its own
    lemmas (those used by at most half of the framework's goals); ``references``, the rows of
    the reference projects labelled with it; and ``names``.
    """

    framework_id: str
    owners: list[str]
    kinds: list[str]
    texts: list[str]
    columns: list[np.ndarray]
    terms: list[frozenset[str]]
    references: list[np.ndarray]
    names: list[str]

    @classmethod
    def build(cls, fid: str, framework: Framework, head: GoalClassifier, references: References) -> StrategyIndex:
        """The index of ``head``, fitted for ``framework`` (the matcher's ``fid``); a ``ValueError``
        if the framework changed since."""
        texts, index, kinds = goal_texts(framework)
        if len(texts) != len(head.prototypes_):
            raise ValueError(
                f"framework {fid} has {len(texts)} strategy texts but its head was trained on "
                f"{len(head.prototypes_)}; the framework changed since training"
            )
        owner: dict[tuple[int, str], str] = {}
        for g, top in enumerate(framework.goals):
            for goal in (top, *top.walk()):
                for _kind, text in goal.texts():
                    owner.setdefault((g, text), goal.id)
        owners = [owner.get((int(g), t), framework.goals[int(g)].id) for g, t in zip(index, texts, strict=True)]
        kinds = ["target" if framework.goal(gid).parent is not None else kind
                 for gid, kind in zip(owners, kinds, strict=True)]
        lemmas = [set(keywords("\n".join(t for t, i in zip(texts, index, strict=True) if i == g)))
                  for g in range(len(framework.goals))]
        spread = Counter(t for goal in lemmas for t in goal)  # a lemma most goals use explains nothing
        terms = [frozenset(t for t in goal if spread[t] <= max(1, len(lemmas) // 2)) for goal in lemmas]
        columns, rows, names = [], [], []
        for g, goal_id in enumerate(head.classes_):
            cols = np.flatnonzero(head.prototype_goal_ == g)
            loud = np.array([kinds[j] not in _QUIET_KINDS for j in cols], dtype=bool)
            columns.append(cols[loud] if loud.any() else cols)
            rows.append(np.array([i for i, labels in enumerate(references.labels)
                                  if str(goal_id) in labels.get(fid, ())], dtype=np.intp))
            names.append(framework.goal(str(goal_id)).name)
        return cls(fid, owners, kinds, texts, columns, terms, rows, names)

    def evidence(
        self, g: int, text: PreparedText, sentences: Sequence[Passage], p_sentences: np.ndarray,
        sims_doc: np.ndarray, sims_sentences: np.ndarray, text_terms: Sequence[str],
        projects: tuple[ProjectEvidence, ...],
    ) -> Evidence:
        """The evidence for goal ``g`` of one text: ``p_sentences`` is the goal's probability for each of
        its ``sentences``; ``sims_doc`` / ``sims_sentences`` the text's / its sentences' similarities to
        every strategy text; ``text_terms`` its lemmas; ``projects`` the reference projects to show."""
        cols = self.columns[g]
        passage = None
        if len(cols):
            M = np.vstack([sims_doc[cols][None], sims_sentences[:, cols]])
            j = cols[int(np.argmax(M.max(axis=0)))]
            passage = PassageEvidence(self.owners[j], self.kinds[j], self.texts[j], float(M.max()))
        quoted = tuple(
            _sentence(text, sentences[k], p_sentences[k],
                      sims_sentences[k, cols].max(initial=-1.0) if len(cols) else np.nan)
            for k in ranked(p_sentences)[:N_SENTENCES]
        )
        shared = tuple([t for t in text_terms if t in self.terms[g]][:N_TERMS])
        return Evidence(sentences=quoted, passage=passage, projects=projects, key_terms=shared)


def _sentence(prepared: PreparedText, s: Passage, probability: float, similarity: float) -> SentenceEvidence:
    start, end = prepared.original_span(s.start, s.end)
    return SentenceEvidence(start, end, s.text, float(probability), float(similarity))
