"""The matcher: a fitted :class:`~goalmatch.model.classifier.GoalClassifier` per framework, the
encoder and the reference projects, answering "which goals does this text serve, and why?".

>>> from goalmatch.data.frameworks import shipped_frameworks
>>> from goalmatch.embed.encoder import FakeEncoder
>>> rus = shipped_frameworks()["rus-norrbotten-2030"]
>>> matcher = Matcher.train([rus], [], encoder=FakeEncoder())  # zero-shot: no labelled projects
>>> top = matcher.suggest("Bättre kollektivtrafik och bredband i byarna.")["rus-norrbotten-2030"].suggestions[0]
>>> top.goal_id, top.evidence.key_terms, top.evidence.passage.text
('rus-transporter', ('kollektivtrafik',), 'kollektivtrafik och hållbart resande i hela länet')
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.embed.tokens import encode_spans_apart
from goalmatch.errors import ModelError, UnknownFramework
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier, goal_texts
from goalmatch.model.evidence import References, StrategyIndex, ranked
from goalmatch.model.suggestions import (
    Abstention,
    Evidence,
    FrameworkSuggestions,
    PassageEvidence,
    ProjectEvidence,
    SentenceEvidence,
    Suggestion,
    Suggestions,
)
from goalmatch.persistence.heads import HeadState
from goalmatch.text.lemmas import keywords
from goalmatch.text.prepare import Passage, PreparedText, chunk, prepare, sentences

__all__ = [
    "Evidence", "FrameworkSuggestions", "Matcher", "PassageEvidence", "ProjectEvidence", "References",
    "SentenceEvidence", "Suggestion", "Suggestions",
]

logger = logging.getLogger(__name__)

CHUNK_TOKENS = 500
"""Texts over the encoder's window are cut into passages of at most this many tokens."""
_BUILDING = threading.Lock()  # a matcher's lazily built state is built once when threads suggest at once


@dataclass(frozen=True, eq=False)
class _Read:
    doc: np.ndarray  # (d,) the document vector
    sentences: list[Passage]  # offsets into the prepared text
    sentence_vectors: np.ndarray  # (n_sentences, d)


# ------------------------------------------------------------------ matcher


class _Renamed:
    """A class attribute that was renamed: reading it raises an AttributeError naming the new one.

    So ``Matcher.fit(...)`` says what to call instead, and ``hasattr(Matcher, "fit")`` is
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
        self._memo: dict[str, StrategyIndex] = {}  # per framework, built on first use

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
        from goalmatch.embed.cache import EmbeddingCache
        from goalmatch.embed.encoder import Encoder

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
        sentences: bool | str = True,
    ) -> list[Suggestions]:
        """``[self.suggest(t, top_k, frameworks) for t in texts]``, computed in batches.

        The texts, their passages and their sentences are encoded in one encoder call; each
        framework's head then scores every text and sentence at once, and the evidence is
        read from precomputed similarity matrices. An empty text is a ``ValueError`` naming
        its index. ``sentences=False`` leaves out the sentence evidence (each text's sentences
        are then not encoded: about half the encoder's work); goals, probabilities,
        abstention and the project evidence are the same, the strategy passage is the one
        closest to the whole text. ``sentences="late"`` takes each sentence's vector from
        its text's own forward pass (:meth:`goalmatch.embed.encoder.Encoder.encode_spans`):
        no second encoding, but on the Danish benchmark the evidence then points at the
        sentence that separate encoding picks only 22-36 % of the time, and a vote of the
        sentences is 2-5 points less accurate (``python scripts/measure_late_chunking.py``),
        so separate encoding stays the default.
        """
        if sentences not in (True, False, "late"):
            raise ValueError(f"sentences must be True, False or 'late', got {sentences!r}")
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
        """Save as a model folder; see :func:`goalmatch.persistence.folder.write_model` for the keywords."""
        from goalmatch.persistence.folder import ModelParts, write_model

        return write_model(path, ModelParts(self.heads, self.frameworks, self.encoder, vars(self.references),
                                            self.info), **kwargs)

    @classmethod
    def load(cls, path: str | Path | None = None, **kwargs: Any) -> Matcher:
        """Load a model folder (the shipped one when ``path`` is None), every file checked first; see
        :func:`goalmatch.persistence.folder.read_model` for the keywords (``encoder``, ``frameworks``)."""
        from goalmatch.persistence.folder import read_model

        parts = read_model(path, **kwargs)
        root = Path(parts.info["path"])
        heads = {fid: _head(state, root / entry["head"], parts.frameworks[fid], parts.encoder)
                 for (fid, state), entry in zip(parts.heads.items(), parts.info["frameworks"], strict=True)}
        return cls(heads, parts.encoder, References(**parts.references), parts.info)

    # -------------------------------------------------------------- views

    def framework_ids(self, frameworks: Sequence[str] | str | None = None) -> list[str]:
        """The ids of ``frameworks`` (all of the model's when None), checked: an id the model
        lacks is an :class:`~goalmatch.errors.UnknownFramework` (a ``ValueError``) naming it
        and the ids it has."""
        if frameworks is None:
            return list(self.heads)
        if isinstance(frameworks, str):
            frameworks = [frameworks]
        unknown = [f for f in frameworks if f not in self.heads]
        if unknown:
            raise UnknownFramework(unknown, list(self.heads))
        return list(frameworks)

    def with_encoder(self, encoder: Any) -> Matcher:
        """This matcher encoding with ``encoder`` (e.g. one behind an embedding cache): the
        same heads, references and info, sharing what it has built of the strategy texts."""
        twin = type(self)(self.heads, encoder, self.references, self.info)
        twin._memo = self._memo
        return twin

    # -------------------------------------------------------------- internals

    def _read(self, prepared: Sequence[PreparedText], *, with_sentences: bool | str) -> list[_Read]:
        """Encode every text (its passages when over the window) and its sentences in one call.

        A sentence is encoded on its own, or with ``with_sentences="late"`` pooled from the
        forward pass of the passage holding it where the encoder can do that
        (:meth:`goalmatch.embed.encoder.Encoder.encode_spans`); a text's vector is the mean of
        its passages'.
        """
        count = getattr(self.encoder, "count_tokens", None)
        window = int(getattr(self.encoder, "max_tokens", 512))
        texts: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        plans = []
        for p in prepared:
            if count is None or count(p.text) <= window:
                parts = [Passage(0, len(p.text), p.text)]
            else:
                parts = chunk(p.text, max_tokens=min(CHUNK_TOKENS, window), count_tokens=count)
            sents = sentences(p.text) if with_sentences else []
            first = len(texts)
            texts += [part.text for part in parts]
            spans += [[] for _ in parts]
            where = []  # (row in texts, index in its spans) of each sentence
            for s in sents:
                home = next((i for i, part in enumerate(parts) if part.start <= s.start and s.end <= part.end), None)
                if home is None:  # not inside one passage: encoded as a text of its own
                    where.append((len(texts), -1))
                    texts.append(s.text)
                    spans.append([])
                else:
                    where.append((first + home, len(spans[first + home])))
                    spans[first + home].append((s.start - parts[home].start, s.end - parts[home].start))
            plans.append((range(first, first + len(parts)), sents, where))
        if not texts:
            return []
        late = with_sentences == "late" and hasattr(self.encoder, "encode_spans")
        D, S = self.encoder.encode_spans(texts, spans) if late else encode_spans_apart(self.encoder, texts, spans)
        D, S = _features.unit_rows(D), [_features.unit_rows(block) for block in S]
        out = []
        for rows, sents, where in plans:
            doc = _features.unit_rows(D[list(rows)].mean(axis=0, keepdims=True))[0]
            vectors = [D[row] if j < 0 else S[row][j] for row, j in where]
            out.append(_Read(doc, sents, np.vstack(vectors) if vectors else np.zeros((0, D.shape[1]))))
        return out

    def _suggest(self, prepared: Sequence[PreparedText], top_k: int, frameworks: Sequence[str] | None,
                 sentences: bool | str = True) -> list[Suggestions]:
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
        index = self._index(fid)
        floor = float(clf.min_similarity_)
        out = []
        for i, (p, read) in enumerate(zip(prepared, reads, strict=True)):
            rows = slice(starts[i], starts[i] + sizes[i] + 1)
            p_doc, P_sent = P_all[rows][0], P_all[rows][1:]
            sims_doc, sims_sent = sims_all[rows][0], sims_all[rows][1:]
            support = float(support_all[i])
            chosen, why = _decision(clf, decisions[i], p, p_doc, support, floor)
            suggestions = tuple(
                Suggestion(
                    str(clf.classes_[g]), index.names[g], float(p_doc[g]), str(clf.classes_[g]) in chosen,
                    index.evidence(g, p, read.sentences, P_sent[:, g], sims_doc, sims_sent, terms[i],
                                   self.references.evidence(ref_sims[i], index.references[g], fid)),
                )
                for g in ranked(p_doc)[:top_k]
            )
            out.append(FrameworkSuggestions(fid, fw.name, fw.multi_label, not chosen, why.english if why else None,
                                            support, floor, suggestions, why.code if why else None,
                                            dict(why.figures) if why else {}))
        return out

    def _index(self, fid: str) -> StrategyIndex:
        """The evidence index of a head's strategy texts, built on first use and kept (once, also
        when several threads suggest at once: the encoder and the heads are read-only)."""
        index = self._memo.get(fid)
        if index is None:
            with _BUILDING:
                index = self._memo.get(fid)
                if index is None:
                    index = StrategyIndex.build(fid, _framework(self.heads[fid]), self.heads[fid], self.references)
                    self._memo[fid] = index
        return index


# ------------------------------------------------------------------ helpers


def _head(state: HeadState, file: Path, fw: Framework, encoder: Any) -> GoalClassifier:
    """The classifier a head file describes, with its framework and encoder attached; a parameter
    this goalmatch's classifier does not have (or lacks) refuses the model, naming the file."""
    known = set(GoalClassifier().get_params())
    if set(state.params) != known:
        missing, extra = sorted(known - set(state.params)), sorted(set(state.params) - known)
        what = (f"lacks the parameter(s) {', '.join(missing)}" if missing
                else f"has the parameter(s) {', '.join(extra)}")
        raise ModelError(f"{file}: the head {what} of this goalmatch's GoalClassifier (the model was made by "
                         "another version); retrain the model")
    clf = GoalClassifier(**{**state.params, "framework": fw, "encoder": encoder})
    clf.__dict__.update(state.fitted)
    clf.framework_, clf.encoder_ = fw, encoder
    return clf


def _framework(clf: GoalClassifier) -> Framework:
    if clf.framework_ is None:
        raise ValueError("a matcher's heads need a framework; this GoalClassifier was fitted on labels alone")
    return clf.framework_  # type: ignore[no-any-return]


def _decision(
    clf: GoalClassifier, decision: Any, p: PreparedText, p_doc: np.ndarray, support: float, floor: float,
) -> tuple[set[str], Abstention | None]:
    """The goals a head stands behind for one text, and why there are none (``None``: there are)."""
    chosen = set(decision) if clf.multi_label_ else ({decision} if decision is not None else set())
    if p.too_short:
        return set(), Abstention("too_short")
    if chosen:
        return chosen, None
    if support < floor:
        return chosen, Abstention("off_topic", {"support": support, "min_similarity": floor})
    best = float(p_doc.max(initial=0.0))
    if best < clf.abstain_threshold:
        return chosen, Abstention("below_probability", {"best_probability": best,
                                                        "threshold": float(clf.abstain_threshold)})
    return chosen, Abstention("below_thresholds", {"best_probability": best})


def _check_top_k(top_k: Any) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


def _prepare(text: Any, where: str) -> PreparedText:
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected text (str), got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{where}: the text is empty; give a project description to match")
    return prepare(text)


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
