"""Measure goal classifiers by leave-one-out on the shipped labelled corpora.

    python scripts/measure_classifier.py --out /tmp/measure_classifier.json

Single-label frameworks (primary label = the record's first label): Region Norrbotten's
RUS (24 records), the national strategy (15), Leader Polaris (8). Multi-label: Agenda
2030 (7 records). Methods, all in the same run and on the same folds:

1. nearest description, zero-shot: the goal whose strategy texts hold the most similar
   text (max cosine), or the highest mean cosine;
2. TF-IDF over lemmas (goalmatch.text.lemmas.lemmatize) + logistic regression, labelled projects only;
3. embeddings + logistic regression, labelled projects only; and with the framework's
   texts as extra rows, alone or with prototype similarities / TF-IDF beside the embeddings;
4. GoalClassifier variants (zero-shot, default, n_nearest=1, heavier projects).

Every distinct text is encoded once with the real encoder (``goalmatch.embed.encoder.Encoder``)
and cached in memory and in ``--cache-dir`` (a ``.npz`` keyed by the encoder's checksum).
Accuracy counts argmax predictions (no abstention); abstentions at the default settings
are reported separately. NLL is the mean negative log-probability of the true goal
(``ln k`` for a uniform guess: 1.39 for 4 goals, 1.95 for 7).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

if __name__ == "__main__" and __package__ is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

import goalmatch
import goalmatch.text.lemmas
from goalmatch.data.frameworks import Framework
from goalmatch.embed.cache import EmbeddingCache
from goalmatch.model.classifier import GoalClassifier, goal_texts

logger = logging.getLogger("measure_classifier")

SINGLE = ("rus-norrbotten-2030", "nationell-strategi-2021", "leader-polaris-2016")
MULTI = ("agenda-2030",)
ODD_TEXTS = (
    "asdf qwerty zxcv blorf gnarp",
    "Recept: blanda mjöl, smör och socker och grädda kanelbullarna i tolv minuter.",
    "The quarterly earnings call is scheduled for Tuesday.",
    "xkcd 927 lorem ipsum dolor sit amet",
    "Hej",
)


class CachedEncoder(EmbeddingCache):
    """goalmatch's embedding cache, also standing in for the encoder it wraps (id, checksum),
    saved to disk after every batch so an interrupted measurement keeps what it encoded."""

    @property
    def id(self) -> str:
        return str(self.encoder.id)

    @property
    def checksum(self) -> str:
        return str(self.encoder.checksum)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().encode(texts)
        self.save()
        return vectors


# ------------------------------------------------------------------ methods
# A method maps (framework, encoder, train texts, train labels, test texts) to
# probabilities (n_test, n_goals) in framework.goal_ids order, or scores where marked.

Method = Callable[[Framework, Any, list[str], list[Any], list[str]], np.ndarray]


def _prototype_sims(fw: Framework, enc: Any, E: np.ndarray, how: str) -> np.ndarray:
    texts, goal, _ = goal_texts(fw)
    S = E @ enc.encode(texts).T
    agg = np.max if how == "max" else np.mean
    return np.stack([agg(S[:, goal == g], axis=1) for g in range(len(fw.goals))], axis=1)


def nearest(how: str) -> Method:
    def method(fw: Framework, enc: Any, tr: list[str], y: list[Any], te: list[str]) -> np.ndarray:
        return _prototype_sims(fw, enc, enc.encode(te), how)

    method.scores_only = True  # type: ignore[attr-defined]
    return method


def _lemmas(text: str) -> list[str]:
    return [p.text for p in goalmatch.text.lemmas.lemmatize(text)]


def _lr(C: float) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=5000)


def _proba_columns(model: LogisticRegression, P: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(P), k))
    out[:, model.classes_] = P
    return out


def _balanced(y: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w / w.sum()


def projects_only(features: str, C: float = 1.0) -> Method:
    def method(fw: Framework, enc: Any, tr: list[str], y: list[Any], te: list[str]) -> np.ndarray:
        yi = np.array([fw.goal_ids.index(label) for label in y])
        if features == "tfidf":
            vec = TfidfVectorizer(analyzer=_lemmas, sublinear_tf=True)
            A, B = vec.fit_transform(tr), vec.transform(te)
        else:
            A, B = enc.encode(tr), enc.encode(te)
        if len(set(yi)) < 2:
            return np.eye(len(fw.goals))[np.full(len(te), yi[0])]
        model = _lr(C).fit(A, yi, sample_weight=_balanced(yi) * len(yi))
        return _proba_columns(model, model.predict_proba(B), len(fw.goals))

    return method


def with_framework_rows(extra: str | None, C: float = 10.0) -> Method:
    """LR on the framework's texts and the labelled projects (each group class-balanced, equal totals)."""

    def method(fw: Framework, enc: Any, tr: list[str], y: list[Any], te: list[str]) -> np.ndarray:
        texts, goal, _ = goal_texts(fw)
        yi = np.concatenate([goal, [fw.goal_ids.index(label) for label in y]]).astype(int)
        rows = [*texts, *tr]
        weight = np.concatenate([_balanced(goal), _balanced(np.array(yi[len(texts):]))] if tr else [_balanced(goal)])
        A, B = enc.encode(rows), enc.encode(te)
        if extra == "prototype":
            A = np.hstack([A, 3 * _prototype_sims(fw, enc, A, "max")])
            B = np.hstack([B, 3 * _prototype_sims(fw, enc, B, "max")])
        elif extra == "tfidf":
            vec = TfidfVectorizer(analyzer=_lemmas, sublinear_tf=True)
            A = np.hstack([A, vec.fit_transform(rows).toarray()])
            B = np.hstack([B, vec.transform(te).toarray()])
        model = _lr(C).fit(A, yi, sample_weight=weight * len(yi))
        return _proba_columns(model, model.predict_proba(B), len(fw.goals))

    return method


def goal_classifier(zero_shot: bool = False, **params: Any) -> Method:
    def method(fw: Framework, enc: Any, tr: list[str], y: list[Any], te: list[str]) -> np.ndarray:
        clf = GoalClassifier(fw, enc, **params)
        clf.fit([], []) if zero_shot else clf.fit(enc.encode(tr), y)
        return np.asarray(clf.predict_proba(enc.encode(te)))

    method.zero_shot = zero_shot  # type: ignore[attr-defined]
    return method


METHODS: dict[str, Method] = {
    "nearest description, max cos (zero-shot)": nearest("max"),
    "nearest description, mean cos (zero-shot)": nearest("mean"),
    "TF-IDF lemmas + LR, projects": projects_only("tfidf"),
    "embeddings + LR, projects": projects_only("embeddings"),
    "embeddings + LR, strategy texts + projects": with_framework_rows(None),
    "embeddings ⊕ prototype sims + LR, strategy + projects": with_framework_rows("prototype"),
    "embeddings ⊕ TF-IDF + LR, strategy + projects": with_framework_rows("tfidf"),
    "GoalClassifier zero-shot (fit([], []))": goal_classifier(zero_shot=True),
    "GoalClassifier (default)": goal_classifier(),
    "GoalClassifier n_nearest=1": goal_classifier(n_nearest=1),
    "GoalClassifier project_weight=3": goal_classifier(project_weight=3.0),
    "GoalClassifier n_nearest=3, alpha=0.1": goal_classifier(alpha=0.1),
}


# ------------------------------------------------------------------ evaluation


def labelled(records: list[goalmatch.Record], framework_id: str) -> tuple[list[str], list[tuple[str, ...]]]:
    pairs = [(r.text, r.labels_for(framework_id)) for r in records if r.labels_for(framework_id)]
    return [t for t, _ in pairs], [labels for _, labels in pairs]


def leave_one_out(method: Method, fw: Framework, enc: Any, texts: list[str], y: list[Any]) -> np.ndarray:
    if getattr(method, "scores_only", False) or getattr(method, "zero_shot", False):
        return method(fw, enc, [], [], texts)
    rows = []
    for i in range(len(texts)):
        keep = [j for j in range(len(texts)) if j != i]
        rows.append(method(fw, enc, [texts[j] for j in keep], [y[j] for j in keep], [texts[i]])[0])
    return np.array(rows)


def single_label_scores(P: np.ndarray, y: np.ndarray, probabilistic: bool) -> dict[str, float | None]:
    pred = P.argmax(axis=1)
    present = sorted(set(y.tolist()))
    out: dict[str, float | None] = {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "nll": None,
    }
    if probabilistic:
        out["nll"] = float(-np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-12, 1))))
    return out


def abstentions(fw: Framework, enc: Any, texts: list[str], y: list[Any]) -> dict[str, Any]:
    """Default GoalClassifier: LOO answers and abstentions (by which gate); odd texts refused."""
    answered, right, low_probability, low_support = 0, 0, 0, 0
    for i in range(len(texts)):
        keep = [j for j in range(len(texts)) if j != i]
        clf = GoalClassifier(fw, enc).fit(enc.encode([texts[j] for j in keep]), [y[j] for j in keep])
        E = enc.encode([texts[i]])
        pred = clf.predict(E)[0]
        if pred is not None:
            answered += 1
            right += pred == y[i]
            continue
        low_probability += bool(clf.predict_proba(E).max() < clf.abstain_threshold)
        low_support += clf.set_params(abstain_threshold=0.0).predict(E)[0] is None
    zero = GoalClassifier(fw, enc).fit([], [])
    zero_pred = zero.predict(enc.encode(texts))
    zero_answered = [(p, t) for p, t in zip(zero_pred, y, strict=True) if p is not None]
    full = GoalClassifier(fw, enc).fit(enc.encode(texts), y)
    odd = enc.encode(list(ODD_TEXTS))
    return {
        "loo_answered": answered,
        "loo_abstained_low_probability": low_probability,
        "loo_abstained_low_support": low_support,
        "loo_accuracy_when_answered": right / answered if answered else None,
        "zero_shot_answered": len(zero_answered),
        "zero_shot_accuracy_when_answered": (
            sum(p == t for p, t in zero_answered) / len(zero_answered) if zero_answered else None
        ),
        "odd_texts": len(ODD_TEXTS),
        "odd_abstained_fitted": int(sum(p is None for p in full.predict(odd))),
        "odd_abstained_zero_shot": int(sum(p is None for p in zero.predict(odd))),
        "uncalibrated_nll_zero_shot": _uncalibrated_nll(zero, enc.encode(texts), y),
    }


def _uncalibrated_nll(clf: GoalClassifier, E: np.ndarray, y: list[Any]) -> float:
    """NLL of a softmax straight over the centred strategy similarities (temperature 1): no calibration."""
    from scipy.special import log_softmax

    from goalmatch.model import features as _features
    F, _ = _features.pair_features(
        _features.unit_rows(E), clf.prototypes_, clf.prototype_goal_, clf.labelled_, clf.labelled_targets_,
        clf.n_nearest,
    )
    index = [list(clf.classes_).index(label) for label in y]
    return float(-np.mean(log_softmax(F[..., 0], axis=1)[np.arange(len(y)), index]))


def multi_label(fw: Framework, enc: Any, texts: list[str], y: list[tuple[str, ...]]) -> dict[str, Any]:
    k = len(fw.goals)
    gold = np.zeros((len(texts), k), dtype=bool)
    for i, labels in enumerate(y):
        gold[i, [fw.goal_ids.index(g) for g in labels]] = True
    out: dict[str, Any] = {"records": len(texts), "labels": int(gold.sum())}
    E = enc.encode(texts)
    sims = _prototype_sims(fw, enc, E, "max")
    out["nearest description, max cos: hit@1"] = float(gold[np.arange(len(texts)), sims.argmax(1)].mean())
    for name, zero_shot in (("GoalClassifier zero-shot", True), ("GoalClassifier", False)):
        predicted, hits = np.zeros_like(gold), []
        for i in range(len(texts)):
            keep = [j for j in range(len(texts)) if j != i]
            clf = GoalClassifier(fw, enc)
            clf.fit([], []) if zero_shot else clf.fit(E[keep], [list(y[j]) for j in keep])
            proba = clf.predict_proba(E[i : i + 1])[0]
            hits.append(gold[i, proba.argmax()])
            for goal in clf.predict(E[i : i + 1])[0]:
                predicted[i, fw.goal_ids.index(goal)] = True
        out[f"{name}: hit@1"] = float(np.mean(hits))
        out[f"{name}: micro-F1"] = float(f1_score(gold, predicted, average="micro", zero_division=0))
        out[f"{name}: goals predicted per text"] = float(predicted.sum(1).mean())
    return out


def run(cache_dir: str | None) -> dict[str, Any]:
    from goalmatch.embed.encoder import Encoder

    fws = goalmatch.frameworks()
    records = goalmatch.load_corpora(frameworks=fws)
    enc = CachedEncoder(Encoder(), cache_dir)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "encoder": enc.id, "encoder_checksum": enc.checksum, "single_label": {}, "multi_label": {}
    }
    for fid in SINGLE:
        fw = fws[fid]
        texts, labels = labelled(records, fid)
        y = [labels_[0] for labels_ in labels]
        yi = np.array([fw.goal_ids.index(g) for g in y])
        per: dict[str, Any] = {"records": len(texts), "methods": {}}
        for name, method in METHODS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                P = leave_one_out(method, fw, enc, texts, y)
            per["methods"][name] = single_label_scores(P, yi, not getattr(method, "scores_only", False))
        per["abstention"] = abstentions(fw, enc, texts, y)
        result["single_label"][fid] = per
    for fid in MULTI:
        texts, labels = labelled(records, fid)
        result["multi_label"][fid] = multi_label(fws[fid], enc, texts, labels)
    result["texts_encoded_this_run"] = enc.encoded
    result["texts_in_cache"] = len(enc.memo)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def table(result: dict[str, Any]) -> str:
    fids = list(result["single_label"])
    head = "| method | " + " | ".join(f"{f} (n={result['single_label'][f]['records']}) acc / F1 / NLL" for f in fids)
    lines = [head + " | mean acc |", "|---" * (len(fids) + 2) + "|"]
    for name in METHODS:
        cells, accs = [], []
        for f in fids:
            s = result["single_label"][f]["methods"][name]
            nll = f"{s['nll']:.2f}" if s["nll"] is not None else "–"
            cells.append(f"{s['accuracy']:.2f} / {s['macro_f1']:.2f} / {nll}")
            accs.append(s["accuracy"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(accs):.3f} |")
    lines.append("")
    lines.append("Default GoalClassifier (abstain_threshold=0.4, min_similarity='auto'):")
    for f in fids:
        a = result["single_label"][f]["abstention"]
        n = result["single_label"][f]["records"]
        lines.append(
            f"  {f}: LOO answered {a['loo_answered']}/{n}, accuracy {a['loo_accuracy_when_answered']:.2f} when"
            f" answering (abstained: {a['loo_abstained_low_probability']} low probability,"
            f" {a['loo_abstained_low_support']} below the similarity floor); zero-shot answered"
            f" {a['zero_shot_answered']}/{n}, accuracy {a['zero_shot_accuracy_when_answered']:.2f} when answering;"
            f" odd texts abstained {a['odd_abstained_fitted']}/{a['odd_texts']} fitted,"
            f" {a['odd_abstained_zero_shot']}/{a['odd_texts']} zero-shot;"
            f" zero-shot NLL with temperature 1 (uncalibrated): {a['uncalibrated_nll_zero_shot']:.2f}"
        )
    for f, m in result["multi_label"].items():
        lines.append(f"Multi-label {f} (LOO, {m['records']} records, {m['labels']} labels):")
        lines.extend(f"  {key}: {value:.2f}" for key, value in m.items() if key not in ("records", "labels"))
    lines.append(
        f"texts encoded this run: {result['texts_encoded_this_run']} (cache holds {result['texts_in_cache']});"
        f" {result['seconds']} s"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--cache-dir", default="/tmp/goalmatch-measure", help="embedding cache folder ('' for none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    result = run(args.cache_dir or None)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
