"""Is late chunking as good for evidence as encoding every sentence on its own? (issue 14)

    python scripts/measure_late_chunking.py --shared ../shared            # the Danish tasks
    python scripts/measure_late_chunking.py --shared ../shared --limit 120

For each Danish benchmark task (``goalmatch.evaluation.benchmark_tasks.danish_tasks``) a
``GoalClassifier`` is fitted on half of the labelled projects (stratified, seeded) and the
other half (each text cut to the sentences that fit the model's 512-token window, so
both ways see every sentence) is read both ways: sentence vectors pooled from the text's own forward pass
(``Encoder.encode_spans``) and each sentence encoded as a text of its own (what goalmatch
did before); ``--alpha``: late chunking with that share of the text's own vector
subtracted from each sentence's (what every sentence shares with its text). Printed, per task and way:

- ``same_sentence_as_apart``: for the text's top goal, how often the sentence with the
  highest probability of that goal (the sentence the evidence points to) is the one the
  sentences encoded apart point to;
- ``vote_accuracy``: the goal accuracy of the sentences' mean probability (a sentence-level
  vote), beside the text-level accuracy, which is identical both ways;
- ``encoder_s``: the encoder time of each way on the same texts.
Asserts nothing; the figures go to the closing note of issue 14 and docs/architecture.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from goalmatch._paths import benchmarks_dir
from goalmatch.embed.encoder import Encoder
from goalmatch.embed.tokens import encode_spans_apart
from goalmatch.evaluation.benchmark_tasks import danish_tasks
from goalmatch.model.classifier import GoalClassifier
from goalmatch.text.prepare import prepare, sentences


def halves(labels: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for goal in sorted(set(labels)):
        rows = rng.permutation([i for i, g in enumerate(labels) if g == goal])
        train += rows[: len(rows) // 2].tolist()
        test += rows[len(rows) // 2:].tolist()
    return np.array(sorted(train)), np.array(sorted(test))


def measure(task: object, encoder: Encoder, limit: int | None, alphas: list[float]) -> dict[str, object]:
    fw, records = task.framework, list(task.records)  # type: ignore[attr-defined]
    labels = [r.labels[fw.id][0] for r in records]
    texts = [prepare(r.text).text for r in records]
    train, test = halves(labels)
    if limit:
        test = test[:limit]
    X = encoder.encode([texts[i] for i in train])
    clf = GoalClassifier(framework=fw, encoder=encoder).fit(X, [labels[i] for i in train])
    chosen = [window(texts[i], encoder) for i in test]
    spans = [[(s.start, s.end) for s in sentences(t)] for t in chosen]
    out: dict[str, object] = {"texts": len(chosen), "sentences": sum(map(len, spans))}
    picks = {}
    encoded = {}
    for way in ("late", "apart"):
        started = time.perf_counter()
        encoded[way] = (encoder.encode_spans(chosen, spans) if way == "late"
                        else encode_spans_apart(encoder, chosen, spans))
        out[way] = {"encoder_s": round(time.perf_counter() - started, 2)}
    docs = encoded["late"][0]
    for alpha in alphas:  # late chunking with the text's own direction taken out of each sentence
        encoded[f"late-{alpha:g}"] = (docs, [_unit(S - alpha * docs[i]) for i, S in enumerate(encoded["late"][1])])
        out[f"late-{alpha:g}"] = {}
    for way, (docs, parts) in encoded.items():
        P_doc = clf.predict_proba(docs)
        top = P_doc.argmax(axis=1)
        votes, picked = [], []
        for i, S in enumerate(parts):
            P = clf.predict_proba(S) if len(S) else P_doc[i : i + 1]
            votes.append(int(P.mean(axis=0).argmax()))
            picked.append(int(P[:, top[i]].argmax()))
        truth = np.array([list(clf.classes_).index(labels[i]) for i in test])
        picks[way] = picked
        out[way].update({"text_accuracy": round(float((top == truth).mean()), 3),  # type: ignore[attr-defined]
                         "vote_accuracy": round(float((np.array(votes) == truth).mean()), 3)})
    for way in picks:
        if way != "apart":
            out[way]["same_sentence_as_apart"] = round(float(np.mean(  # type: ignore[index]
                [a == b for a, b in zip(picks[way], picks["apart"], strict=True)])), 3)
    return out


def window(text: str, encoder: Encoder, limit: int = 500) -> str:
    """The text's first sentences that fit the model's window, so both ways see every sentence."""
    kept = ""
    for s in sentences(text):
        candidate = text[: s.end]
        if encoder.count_tokens(candidate) > limit:
            break
        kept = candidate
    return kept or text[:1000]


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--limit", type=int, default=None, help="at most this many held-out texts per task")
    parser.add_argument("--alpha", type=float, nargs="*", default=[0.5, 0.8, 1.0],
                        help="also late chunking with this share of the text's vector taken out of each sentence's")
    args = parser.parse_args()
    encoder = Encoder()
    tasks = danish_tasks(args.shared, benchmarks_dir() / "frameworks")
    results = {task.name: measure(task, encoder, args.limit, args.alpha) for task in tasks}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
