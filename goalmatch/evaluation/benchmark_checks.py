"""The benchmark's side sets: texts no goal fits (off-topic), and hand-written applications.

Both are read the way a user meets goalmatch, through a :class:`~goalmatch.model.matcher.Matcher`
(``suggest_many``: the text repaired and flagged, a too-short text abstains), with the run's
embedding cache as its encoder (texts are encoded whole, truncated at the encoder's window).

- **Off-topic**: per framework and per version of its head — ``zero-shot`` (the framework's
  texts alone), ``zero-shot + backlog`` (also the unlabelled project texts, which set the
  support floor) and ``trained`` (the given model's head for the framework, else one fitted on
  the task's labelled projects) — the share of off-topic texts on which it abstains.
- **Regression**: every (text, framework) pair of the set, scored by the model: is its top
  suggestion one of the expected goals, is one among the top 3; the misses listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from goalmatch.data.frameworks import Framework
from goalmatch.errors import CorpusError
from goalmatch.evaluation.benchmark_tasks import OffTopic, Regression, Task
from goalmatch.model.classifier import GoalClassifier
from goalmatch.model.evidence import References
from goalmatch.model.features import pair_features
from goalmatch.model.matcher import Matcher

__all__ = ["VERSIONS", "model_encoder", "offtopic_abstention", "projects_off_topic", "regression_scores", "side_heads"]

VERSIONS = ("zero-shot", "zero-shot + backlog", "trained")
"""The versions of each framework's head the off-topic set is put to."""


def _matcher(heads: Mapping[str, GoalClassifier], embed: Any) -> Matcher:
    """A Matcher over ``heads`` that encodes through ``embed`` and has no reference projects."""
    dim = next(iter(heads.values())).n_features_in_
    refs = References((), (), (), np.zeros((0, dim), dtype=np.float32))
    return Matcher(heads, embed, refs)


def model_encoder(model: Any, embed: Any) -> Any:
    """``embed`` where it wraps the model's own encoder (same id and checksum), else ``None``."""
    if model is None:
        return None
    mine, theirs = getattr(embed, "encoder", embed), model.encoder
    same = all(getattr(mine, a, None) == getattr(theirs, a, None) for a in ("id", "checksum", "prefix"))
    return embed if same else None


def side_heads(frameworks: Mapping[str, Framework], tasks: Sequence[Task], backlogs: Mapping[str, Sequence[str]],
               model: Any, embed: Any) -> dict[str, dict[str, tuple[GoalClassifier, str]]]:
    """Per framework, each version's head and where it came from (see the module docstring)."""
    shared = model_encoder(model, embed)
    by_fw = {t.framework.id: t for t in tasks}
    out: dict[str, dict[str, tuple[GoalClassifier, str]]] = {}
    for fid, fw in frameworks.items():
        task = by_fw.get(fid)
        unlabelled = list(backlogs.get(fid, ()))
        if task is not None:
            unlabelled += [r.text for r in (*task.records, *task.test)] + list(task.backlog)
        heads = out[fid] = {"zero-shot": (GoalClassifier(fw, embed).fit(), "the framework's texts")}
        if unlabelled:
            E = embed.encode(list(dict.fromkeys(unlabelled)))
            heads["zero-shot + backlog"] = (GoalClassifier(fw, embed).fit(E, [None] * len(E)),
                                            f"the framework's texts and {len(E)} unlabelled project texts")
        if shared is not None and fid in model.heads:
            heads["trained"] = (model.heads[fid], f"the model's head ({model.info.get('command', 'given model')})")
        elif task is not None:
            E = embed.encode([r.text for r in task.records] + list(task.backlog))
            y = [list(r.labels_for(fid)) for r in task.records] + [None] * len(task.backlog)
            heads["trained"] = (GoalClassifier(fw, embed).fit(E, y), f"fitted on the task's {len(task.records)} "
                                                                        "labelled projects")
    return out


def offtopic_abstention(texts: Sequence[OffTopic], heads: Mapping[str, Mapping[str, tuple[GoalClassifier, str]]],
                        embed: Any) -> dict[str, Any]:
    """The share of ``texts`` each framework's head versions abstain on, also by kind of text, and
    which texts were answered."""
    kinds: dict[str, int] = {}
    for t in texts:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    out: dict[str, Any] = {"texts": len(texts), "kinds": kinds, "frameworks": {}}
    abstained: dict[tuple[str, str], list[bool]] = {}
    for version in VERSIONS:
        chosen = {fid: v[version][0] for fid, v in heads.items() if version in v}
        if not chosen:
            continue
        results = _matcher(chosen, embed).suggest_many([t.text for t in texts], top_k=1, sentences=False)
        for fid in chosen:
            flags = [next(fs for fs in res.frameworks if fs.framework_id == fid).abstained for res in results]
            abstained[fid, version] = flags
    for fid, versions in heads.items():
        entry = out["frameworks"][fid] = {}
        for version, (_, source) in versions.items():
            flags = abstained[fid, version]
            entry[version] = {"abstained": round(float(np.mean(flags)), 3), "source": source,
                              "answered": [t.id for t, a in zip(texts, flags, strict=True) if not a]}
    out["by_kind"] = _by_kind(texts, abstained)
    return out


def projects_off_topic(heads: Mapping[str, Mapping[str, tuple[GoalClassifier, str]]], tasks: Sequence[Task],
                       embed: Any) -> dict[str, dict[str, Any]]:
    """Per framework with a task, the share of the task's labelled project texts (training pool and
    test part) whose support is under each head version's floor: real projects the head would call
    off-topic. Only the zero-shot head has not seen them; the backlog and trained heads set their
    floor on them (their share is in-sample)."""
    out: dict[str, dict[str, Any]] = {}
    for task in tasks:
        fid = task.framework.id
        if fid not in heads:
            continue
        E = embed.encode(list(dict.fromkeys(r.text for r in (*task.records, *task.test))))
        out[fid] = {"texts": len(E)}
        for version, (clf, _) in heads[fid].items():
            support = pair_features(clf.embed(E), clf.prototypes_, clf.prototype_goal_, clf.labelled_,
                                    clf.labelled_targets_, clf.n_nearest)[1]
            out[fid][version] = round(float(np.mean(support < clf.min_similarity_)), 3)
    return out


def _by_kind(texts: Sequence[OffTopic], abstained: Mapping[tuple[str, str], Sequence[bool]]
             ) -> dict[str, dict[str, float]]:
    """Per head version and kind of text, the share abstained over every framework."""
    flags: dict[str, dict[str, list[bool]]] = {}
    for (_, version), row in abstained.items():
        for text, a in zip(texts, row, strict=True):
            flags.setdefault(version, {}).setdefault(text.kind, []).append(a)
    return {v: {kind: round(float(np.mean(f)), 3) for kind, f in kinds.items()} for v, kinds in flags.items()}


def regression_scores(items: Sequence[Regression], model: Any, embed: Any) -> dict[str, Any]:
    """Every (text, framework) pair scored by ``model``: top-1 and top-3 right, abstentions, misses.

    A framework the model lacks is skipped (and named); an expected goal the framework lacks is an
    error (the set was written for it)."""
    from goalmatch.embed.cache import EmbeddingCache

    encoder = model_encoder(model, embed) or EmbeddingCache(model.encoder, getattr(embed.path, "parent", None))
    fids = sorted({f for it in items for f in it.expected if f in model.heads})
    skipped = sorted({f"{it.id}: {f}" for it in items for f in it.expected if f not in model.heads})
    results = model.with_encoder(encoder).suggest_many([it.text for it in items], top_k=3, frameworks=fids,
                                                        sentences=False) if fids else []
    pairs, misses = [], []
    for it, res in zip(items, results, strict=True):
        for fid, goals in it.expected.items():
            if fid not in fids:
                continue
            fw = model.frameworks[fid]
            expected = {_top_level(fw, g, it.id) for g in goals}
            fs = next(x for x in res.frameworks if x.framework_id == fid)
            top = [s.goal_id for s in fs.suggestions]
            pair = {"top1": top[0] in expected, "top3": bool(expected & set(top)), "abstained": fs.abstained}
            pairs.append(pair)
            if not pair["top1"]:
                misses.append({"id": it.id, "framework": fid, "expected": sorted(expected), "abstained": fs.abstained,
                               "top3": [[s.goal_id, round(s.probability, 3)] for s in fs.suggestions]})
    if encoder is not embed:
        encoder.save()
    def share(key: str) -> float | None:
        return round(float(np.mean([p[key] for p in pairs])), 3) if pairs else None

    return {"texts": len(items), "pairs": len(pairs), "top1": share("top1"), "top3": share("top3"),
            "abstained": share("abstained"), "misses": misses, "skipped": skipped,
            "model": model.info.get("command")}


def _top_level(fw: Framework, goal: str, item: str) -> str:
    try:
        return fw.top_level(goal)
    except KeyError:
        raise CorpusError(f"regression set: {item}: expected goal {goal!r} is not a goal of {fw.id}") from None
