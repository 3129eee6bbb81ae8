"""The matcher: a fitted :class:`~goalmatch.model.classifier.GoalClassifier` per framework, the
encoder and the reference projects, answering "which goals does this text serve, and why?".

>>> from goalmatch.embed.encoder import FakeEncoder
>>> from goalmatch.data.frameworks import Framework
>>> fw = Framework.from_dict({
...     "id": "demo", "name": "Demo", "language": "sv", "multi_label": False,
...     "source": {"document": "exempel"},
...     "goals": [
...         {"id": "demo-bredband", "name": "Bredband", "description": "Bredband och fiber till byarna.",
...          "examples": ["utbyggnad av fiber", "bredband på landsbygden"]},
...         {"id": "demo-kultur", "name": "Kultur", "description": "Kultur, musik och teater för unga.",
...          "examples": ["musikfestival", "teater för barn"]},
...     ],
... })
>>> matcher = Matcher.train([fw], [], encoder=FakeEncoder())
>>> result = matcher.suggest("Vi drar fiber till byarna. Bredbandet når alla hushåll på landsbygden.")
>>> top = result["demo"].suggestions[0]
>>> top.goal_id, top.evidence.key_terms
('demo-bredband', ('bredband', 'fiber', 'landsbygd'))
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier, goal_texts
from goalmatch.model.suggestions import (
    Evidence,
    FrameworkSuggestions,
    PassageEvidence,
    ProjectEvidence,
    SentenceEvidence,
    Suggestion,
    Suggestions,
)
from goalmatch.text.prepare import Passage, PreparedText, chunk, keywords, prepare, sentences

__all__ = [
    "Evidence", "FrameworkSuggestions", "Matcher", "PassageEvidence", "ProjectEvidence", "References",
    "SentenceEvidence", "Suggestion", "Suggestions",
]

logger = logging.getLogger(__name__)

CHUNK_TOKENS = 500
"""Texts over the encoder's window are cut into passages of at most this many tokens."""
N_SENTENCES, N_PROJECTS, N_TERMS = 2, 3, 8
_QUIET_KINDS = frozenset({"alias"})  # "SDG 9", "Mål 9": they map labels, they explain nothing


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
class _Read:
    doc: np.ndarray  # (d,) the document vector
    sentences: list[Passage]  # offsets into the prepared text
    sentence_vectors: np.ndarray  # (n_sentences, d)


# ------------------------------------------------------------------ matcher


class _Renamed:
    """A class attribute that was renamed: reading it raises an AttributeError naming the new one.

    So ``Matcher.train(...)`` says what to call instead, and ``hasattr(Matcher, "fit")`` is
    False (a Matcher is not a scikit-learn estimator; its ``train`` builds a new one).
    """

    def __init__(self, message: str) -> None:
        self.message = message

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        raise AttributeError(self.message)


class Matcher:
    """Suggests the goals of several strategy frameworks for a text, with evidence.

    Build one with :meth:`train`, or load a saved one with :func:`goalmatch.load`.

    Attributes: ``heads`` (framework id → fitted GoalClassifier), ``encoder``,
    ``references`` (:class:`References`), ``info`` (training facts; the manifest when loaded).
    """

    def __init__(
        self, heads: Mapping[str, GoalClassifier], encoder: Any, references: References,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.heads = dict(heads)
        self.encoder = encoder
        self.references = references
        self.info = dict(info or {})
        self._memo: dict[str, Any] = {}  # per framework: its strategy texts' owners, kinds and lemmas

    def __repr__(self) -> str:
        return f"Matcher(frameworks={list(self.heads)}, encoder={getattr(self.encoder, 'id', self.encoder)!r}, " \
               f"references={len(self.references.ids)})"

    @property
    def frameworks(self) -> dict[str, Framework]:
        """The frameworks the matcher was trained for, by id."""
        return {fid: _framework(clf) for fid, clf in self.heads.items()}

    fit = _Renamed("Matcher.fit was renamed Matcher.train (it builds a new Matcher from frameworks and "
                   "records); call Matcher.train(frameworks, records, encoder, extra, ...)")

    @classmethod
    def train(
        cls,
        frameworks: Mapping[str, Framework] | Iterable[Framework],
        records: Iterable[Record],
        encoder: Any = None,
        extra: Iterable[Record] = (),
        *,
        params: Mapping[str, Any] | None = None,
        cache_dir: str | Path | None = None,
    ) -> Matcher:
        """Fit a GoalClassifier per framework and keep ``records`` as reference projects.

        Each head learns from the records labelled for its framework (the first label of a
        single-label framework is the primary one); the other records are passed unlabelled,
        so the head learns how related real project texts are to its strategy (its support
        floor). ``extra`` records are training texts only: used by the frameworks they are
        labelled for and never shown as reference projects (e.g. TRAIL22's English SDG texts).
        ``params`` go to every GoalClassifier. Every distinct text is encoded once, in one
        call; with ``cache_dir`` the embeddings are also kept on disk between runs.
        """
        from goalmatch.embed.encoder import Encoder
        from goalmatch.persistence.folder import EmbeddingCache

        fws = dict(frameworks) if isinstance(frameworks, Mapping) else {fw.id: fw for fw in frameworks}
        if not fws:
            raise ValueError("no frameworks to fit")
        records, extra = list(records), list(extra)
        _check_records(records, extra, fws)
        encoder = encoder if encoder is not None else Encoder()
        memo = EmbeddingCache(encoder, cache_dir)
        strategy = [text for fw in fws.values() for text in goal_texts(fw)[0]]
        memo.encode(list(dict.fromkeys([*(r.text for r in records), *(r.text for r in extra), *strategy])))
        E, X_extra = memo.encode([r.text for r in records]), memo.encode([r.text for r in extra])
        heads: dict[str, GoalClassifier] = {}
        labelled: dict[str, int] = {}
        adjusted: dict[str, dict[str, float]] = {}
        for fid, fw in fws.items():
            own = [i for i, r in enumerate(extra) if r.labels_for(fid)]
            X = np.vstack([E, X_extra[own]])
            y = [list(r.labels_for(fid)) or None for r in records] + [list(extra[i].labels_for(fid)) for i in own]
            clf = GoalClassifier(fw, memo, **{"embedding_dtype": "float32", **dict(params or {})})
            clf.fit(X, y, corpus=np.arange(len(X)) < len(records))  # the extra texts adapt it to the corpus
            clf.set_params(encoder=encoder)
            clf.encoder_ = encoder
            if own:
                adjusted[fid] = dict(clf.corpus_adjustment_)
            heads[fid] = clf
            labelled[fid] = sum(y_i is not None for y_i in y)
        memo.save()
        references = References(
            ids=tuple(r.id for r in records),
            titles=tuple(r.title for r in records),
            labels=tuple({k: tuple(v) for k, v in r.labels.items() if k in fws} for r in records),
            embeddings=_features.unit_rows(E).astype(np.float32) if records else np.zeros((0, E.shape[1]), np.float32),
        )
        info = {"training_data": {
            "sha256": _data_hash([*records, *extra]), "records": len(records), "extra_records": len(extra),
            "labelled": labelled, "encoded_texts": memo.encoded, "adjusted_for_extra": adjusted,
        }}
        return cls(heads, encoder, references, info)

    # -------------------------------------------------------------- answering

    def suggest(self, text: str, top_k: int = 3, frameworks: Sequence[str] | None = None) -> Suggestions:
        """The ``top_k`` goals per framework for one text, with evidence and text flags.

        An empty or whitespace-only text is a ``ValueError``; a very short one is answered
        and flagged ``too_short``. ``frameworks`` limits the answer to these framework ids.
        """
        _check_top_k(top_k)
        return self._suggest([_prepare(text, "text")], top_k, frameworks)[0]

    def suggest_many(
        self, texts: Sequence[str], top_k: int = 3, frameworks: Sequence[str] | None = None, *,
        sentences: bool = True,
    ) -> list[Suggestions]:
        """``[self.suggest(t, top_k, frameworks) for t in texts]``, computed in batches.

        The texts, their passages and their sentences are encoded in one encoder call; each
        framework's head then scores every text and sentence at once, and the evidence is
        read from precomputed similarity matrices. An empty text is a ``ValueError`` naming
        its index. ``sentences=False`` leaves out the sentence evidence (each text's sentences
        are then not encoded: about half the encoder's work); goals, probabilities,
        abstention and the project evidence are the same, the strategy passage is the one
        closest to the whole text.
        """
        if isinstance(texts, str):
            raise TypeError("expected a list of texts, got a single string; wrap it in a list: [text]")
        _check_top_k(top_k)
        return self._suggest([_prepare(text, f"texts[{i}]") for i, text in enumerate(texts)], top_k, frameworks,
                             sentences)

    def predict_proba(self, texts: Sequence[str], framework: str | None = None) -> np.ndarray:
        """Probabilities ``(len(texts), n_goals)`` of one framework, columns in its head's ``classes_``.

        ``framework`` may be left out when the matcher has a single one. Texts are read as
        :meth:`suggest` reads them (repaired, long ones pooled over passages), in one batch.
        """
        if isinstance(texts, str):
            raise TypeError("expected a list of texts, got a single string; wrap it in a list: [text]")
        if framework is None:
            if len(self.heads) != 1:
                raise ValueError(f"name the framework: one of {', '.join(self.heads)}")
            framework = next(iter(self.heads))
        clf = self.heads[self.framework_ids([framework])[0]]
        prepared = [_prepare(text, f"texts[{i}]") for i, text in enumerate(texts)]
        reads = self._read(prepared, with_sentences=False)
        if not reads:
            return np.zeros((0, len(clf.classes_)))
        return np.asarray(clf.predict_proba(np.vstack([r.doc for r in reads])))

    # -------------------------------------------------------------- persistence

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save as a model folder; see :func:`goalmatch.persistence.folder.save`."""
        from goalmatch.persistence.folder import save

        return save(self, path, **kwargs)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Matcher:
        """Load a model folder; see :func:`goalmatch.persistence.folder.load`."""
        from goalmatch.persistence.folder import load

        return load(path, **kwargs)

    # -------------------------------------------------------------- views

    def framework_ids(self, frameworks: Sequence[str] | str | None = None) -> list[str]:
        """The ids of ``frameworks`` (all of the model's when None), checked: an id the model
        lacks is a ``ValueError`` naming it and the ids it has."""
        if frameworks is None:
            return list(self.heads)
        if isinstance(frameworks, str):
            frameworks = [frameworks]
        unknown = [f for f in frameworks if f not in self.heads]
        if unknown:
            raise ValueError(f"unknown framework(s) {', '.join(unknown)}; this model has: {', '.join(self.heads)}")
        return list(frameworks)

    def with_encoder(self, encoder: Any) -> Matcher:
        """This matcher encoding with ``encoder`` (e.g. one behind an embedding cache): the
        same heads, references and info, sharing what it has built of the strategy texts."""
        twin = type(self)(self.heads, encoder, self.references, self.info)
        twin._memo = self._memo
        return twin

    # -------------------------------------------------------------- internals

    def _read(self, prepared: Sequence[PreparedText], *, with_sentences: bool) -> list[_Read]:
        """Encode every text (its passages when over the window) and its sentences in one call."""
        count = getattr(self.encoder, "count_tokens", None)
        window = int(getattr(self.encoder, "max_tokens", 512))
        plans: list[tuple[list[str], list[Passage]]] = []
        for p in prepared:
            if count is None or count(p.text) <= window:
                parts = [p.text]
            else:
                parts = [c.text for c in chunk(p.text, max_tokens=min(CHUNK_TOKENS, window), count_tokens=count)]
            plans.append((parts, sentences(p.text) if with_sentences else []))
        batch = list(dict.fromkeys(t for parts, sents in plans for t in (*parts, *(s.text for s in sents))))
        if not batch:
            return []
        V = _features.unit_rows(self.encoder.encode(batch))
        row = {text: i for i, text in enumerate(batch)}
        out = []
        for parts, sents in plans:
            doc = _features.unit_rows(V[[row[t] for t in parts]].mean(axis=0, keepdims=True))[0]
            S = V[[row[s.text] for s in sents]] if sents else np.zeros((0, V.shape[1]))
            out.append(_Read(doc, sents, S))
        return out

    def _suggest(self, prepared: Sequence[PreparedText], top_k: int, frameworks: Sequence[str] | None,
                 sentences: bool = True) -> list[Suggestions]:
        """Suggestions for prepared texts: one encoder call, then each head once over all texts."""
        ids = self.framework_ids(frameworks)
        reads = self._read(prepared, with_sentences=sentences)
        if not reads:
            return []
        docs = np.vstack([r.doc for r in reads])
        ref_sims = docs @ self.references.embeddings.astype(np.float64).T  # (n, references)
        terms = [keywords(p.text) for p in prepared]
        per_framework = [self._framework_results(fid, prepared, reads, docs, terms, ref_sims, top_k) for fid in ids]
        everyone = np.arange(ref_sims.shape[1])
        return [
            Suggestions(p.flags, tuple(results[i] for results in per_framework),
                        self.references.evidence(ref_sims[i], everyone, None))
            for i, p in enumerate(prepared)
        ]

    def _framework_results(
        self, fid: str, prepared: Sequence[PreparedText], reads: Sequence[_Read], docs: np.ndarray,
        terms: Sequence[list[str]], ref_sims: np.ndarray, top_k: int,
    ) -> list[FrameworkSuggestions]:
        """One framework's suggestions for every text; the head scores all texts and sentences in one call."""
        clf = self.heads[fid]
        fw = _framework(clf)
        sizes = np.array([len(r.sentences) for r in reads])
        starts = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]])  # row of each text's doc in the stack below
        stack = np.vstack([np.vstack([r.doc[None], r.sentence_vectors]) for r in reads])
        P_all = np.asarray(clf.predict_proba(stack))
        sims_all = stack @ clf.prototypes_.T  # every text's and sentence's similarity to every strategy text
        decisions = clf.predict(docs)
        support_all = _features.pair_features(
            docs, clf.prototypes_, clf.prototype_goal_, clf.labelled_, clf.labelled_targets_, clf.n_nearest
        )[1]
        goal_ids, kinds, texts, goal_terms = self._goal_texts(fid)
        goal_cols, goal_refs, names = self._goal_index(fid)
        floor = float(clf.min_similarity_)
        out = []
        for i, (p, read) in enumerate(zip(prepared, reads, strict=True)):
            rows = slice(starts[i], starts[i] + sizes[i] + 1)
            p_doc, P_sent = P_all[rows][0], P_all[rows][1:]
            sims_doc, sims_sent = sims_all[rows][0], sims_all[rows][1:]
            decision = decisions[i]
            chosen = set(decision) if clf.multi_label_ else ({decision} if decision is not None else set())
            support = float(support_all[i])
            reason = None
            if p.too_short:
                chosen, reason = set(), "the text is too short to judge; the ranking is a guess"
            elif not chosen:
                if support < floor:
                    reason = (f"the text is less related to this strategy than every project it was trained on "
                              f"(support {support:.3f} < {floor:.3f})")
                elif p_doc.max(initial=0.0) < clf.abstain_threshold:
                    reason = f"no goal reaches probability {clf.abstain_threshold:g}"
                else:
                    reason = "no goal reaches its threshold"
            suggestions = []
            for g in _ranked(p_doc)[:top_k]:
                goal_id = str(clf.classes_[g])
                cols = goal_cols[g]
                passage = None
                if len(cols):
                    M = np.vstack([sims_doc[cols][None], sims_sent[:, cols]])
                    j = cols[int(np.argmax(M.max(axis=0)))]
                    passage = PassageEvidence(goal_ids[j], kinds[j], texts[j], float(M.max()))
                order = _ranked(P_sent[:, g])[:N_SENTENCES]
                sent = tuple(
                    _sentence_evidence(p, read.sentences[k], P_sent[k, g],
                                       sims_sent[k, cols].max(initial=-1.0) if len(cols) else np.nan)
                    for k in order
                )
                evidence = Evidence(
                    sentences=sent, passage=passage, projects=self.references.evidence(ref_sims[i], goal_refs[g], fid),
                    key_terms=tuple([t for t in terms[i] if t in goal_terms[g]][:N_TERMS]),
                )
                suggestions.append(
                    Suggestion(goal_id, names[g], float(p_doc[g]), goal_id in chosen, evidence)
                )
            out.append(FrameworkSuggestions(
                fid, fw.name, fw.multi_label, not chosen, reason, support, floor, tuple(suggestions)
            ))
        return out

    def _goal_index(self, fid: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
        """Per goal of a head (``classes_`` order): the columns of its strategy texts that may be shown as
        evidence (aliases only where it has nothing else), the rows of the reference projects labelled
        with it, and its name. Built on first use and kept."""
        key = f"{fid}\0index"
        if key not in self._memo:
            clf = self.heads[fid]
            kinds = self._goal_texts(fid)[1]
            fw = _framework(clf)
            cols_of, refs_of, names = [], [], []
            for g, goal in enumerate(clf.classes_):
                cols = np.flatnonzero(clf.prototype_goal_ == g)
                loud = np.array([kinds[j] not in _QUIET_KINDS for j in cols], dtype=bool)
                cols_of.append(cols[loud] if loud.any() else cols)
                refs_of.append(np.array([i for i, labels in enumerate(self.references.labels)
                                         if str(goal) in labels.get(fid, ())], dtype=np.intp))
                names.append(fw.goal(str(goal)).name)
            self._memo[key] = (cols_of, refs_of, names)
        return self._memo[key]  # type: ignore[no-any-return]

    def _goal_texts(self, fid: str) -> tuple[list[str], list[str], list[str], list[frozenset[str]]]:
        """Per strategy text of a head: its (sub-)goal id, evidence kind and text; per goal, its own lemmas
        (those used by at most half of the framework's goals).

        Built on first use and kept: the order is that of ``goal_texts``, as the head's prototypes.
        """
        if fid not in self._memo:
            clf = self.heads[fid]
            fw = _framework(clf)
            texts, index, kinds = goal_texts(fw)
            if len(texts) != len(clf.prototypes_):
                raise ValueError(
                    f"framework {fid} has {len(texts)} strategy texts but its head was trained on "
                    f"{len(clf.prototypes_)}; the framework changed since training"
                )
            owner: dict[tuple[int, str], str] = {}
            for g, top in enumerate(fw.goals):
                for goal in (top, *top.walk()):
                    for _kind, text in goal.texts():
                        owner.setdefault((g, text), goal.id)
            goal_ids = [owner.get((int(g), t), fw.goals[int(g)].id) for g, t in zip(index, texts, strict=True)]
            kinds = [
                "target" if fw.goal(gid).parent is not None else kind for gid, kind in zip(goal_ids, kinds, strict=True)
            ]
            lemmas = [set(keywords("\n".join(t for t, i in zip(texts, index, strict=True) if i == g)))
                      for g in range(len(fw.goals))]
            spread = Counter(t for goal in lemmas for t in goal)  # a lemma most goals use explains nothing
            terms = [frozenset(t for t in goal if spread[t] <= max(1, len(lemmas) // 2)) for goal in lemmas]
            self._memo[fid] = (goal_ids, kinds, texts, terms)
        return self._memo[fid]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ helpers


def _framework(clf: GoalClassifier) -> Framework:
    if clf.framework_ is None:
        raise ValueError("a matcher's heads need a framework; this GoalClassifier was fitted on labels alone")
    return clf.framework_  # type: ignore[no-any-return]


def _ranked(values: np.ndarray) -> np.ndarray:
    """Indices by decreasing value; values equal to 12 decimals (a sentence repeated in the text) keep
    their order, so float noise of batched arithmetic never reorders them."""
    return np.argsort(-np.round(values, 12), kind="stable")


def _check_top_k(top_k: Any) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


def _prepare(text: Any, where: str) -> PreparedText:
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected text (str), got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{where}: the text is empty; give a project description to match")
    return prepare(text)


def _sentence_evidence(prepared: PreparedText, s: Passage, probability: float, similarity: float) -> SentenceEvidence:
    start, end = prepared.original_span(s.start, s.end)
    return SentenceEvidence(start, end, s.text, float(probability), float(similarity))


def _check_records(records: list[Record], extra: list[Record], frameworks: Mapping[str, Framework]) -> None:
    seen: set[str] = set()
    for record in (*records, *extra):
        if record.id in seen:
            raise ValueError(f"record id {record.id!r} is used twice")
        seen.add(record.id)
        for fid, goals in record.labels.items():
            fw = frameworks.get(fid)
            bad = [g for g in goals if fw is not None and g not in fw.goal_ids]
            if bad:
                raise ValueError(
                    f"record {record.id}: label {bad[0]!r} is not a goal of {fid}; expected one of "
                    f"{', '.join(fw.goal_ids)}"  # type: ignore[union-attr]
                )


def _data_hash(records: Sequence[Record]) -> str:
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.id):
        line = json.dumps([r.id, r.text, {k: list(v) for k, v in sorted(r.labels.items())}], ensure_ascii=False)
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()
