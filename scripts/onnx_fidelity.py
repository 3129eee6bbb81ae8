"""Fidelity of the ONNX int8 encoder to the float32 torch encoder; prints measured figures.

    python scripts/onnx_fidelity.py                       # torch vs onnx-int8
    python scripts/onnx_fidelity.py --backends torch onnx onnx-int8 --all-methods

1. Cosine between each backend's vector and the torch vector of the same text, over
   every shipped text: the corpora records (``goalmatch.load_corpora()``) and every
   framework's strategy texts (names, descriptions, examples, targets): mean, min and
   the 1st percentile.
2. ``goalmatch.evaluation.crossval.evaluate`` once per backend on the shipped corpora (no TRAIL22;
   repeats=1, default folds and seed), each with its own embedding cache under
   ``--work``; the headline F1 (macro for single-label, micro for multi-label) and top-1
   (hit@1 for multi-label) of goalmatch per framework, side by side, with the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import goalmatch  # noqa: E402
from goalmatch.embed.cache import EmbeddingCache  # noqa: E402
from goalmatch.embed.encoder import Encoder  # noqa: E402
from goalmatch.model.classifier import goal_texts  # noqa: E402


def headline(entry: dict[str, Any], name: str = "goalmatch") -> tuple[str, float, str, float]:
    """(F1 name, value, accuracy name, value) of one method on one framework."""
    mean = entry["methods"][name]["mean"]
    f1, acc = ("micro_f1", "hit_at_1") if entry["multi_label"] else ("macro_f1", "top1")
    return f1, float(mean[f1]), acc, float(mean[acc])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx-int8"], help="the first is the reference")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "goalmatch-onnx-fidelity")
    parser.add_argument("--all-methods", action="store_true", help="also cross-validate the baselines (slower)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    frameworks = goalmatch.frameworks()
    records = goalmatch.load_corpora()
    texts = list(dict.fromkeys([r.text for r in records] + [t for fw in frameworks.values()
                                                             for t in goal_texts(fw)[0]]))
    out: dict[str, Any] = {"texts": len(texts), "records": len(records), "backends": {}}
    vectors: dict[str, np.ndarray] = {}
    for backend in args.backends:
        encoder = Encoder(backend=backend)
        cache = EmbeddingCache(encoder, args.work / backend)
        started = time.perf_counter()
        vectors[backend] = cache.encode(texts)
        cache.save()
        out["backends"][backend] = {"id": encoder.id, "checksum": encoder.checksum[:16],
                                    "encode_s": round(time.perf_counter() - started, 1)}
        print(f"{backend}: {len(texts)} texts encoded in {out['backends'][backend]['encode_s']} s "
              f"(0 if cached in {args.work / backend})", flush=True)
    reference = args.backends[0]
    for backend in args.backends[1:]:
        cos = np.sum(vectors[backend] * vectors[reference], axis=1)
        out["backends"][backend]["cosine_to_" + reference] = {
            "mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
            "p01": round(float(np.percentile(cos, 1)), 5)}
        print(f"cosine {backend} vs {reference} over {len(texts)} texts: mean {cos.mean():.5f}, "
              f"min {cos.min():.5f}, 1st percentile {np.percentile(cos, 1):.5f}")

    from goalmatch.evaluation.baselines import METHODS
    from goalmatch.evaluation.crossval import evaluate

    methods = None if args.all_methods else {"goalmatch": METHODS["goalmatch"]}
    metrics = {}
    for backend in args.backends:
        started = time.perf_counter()
        report = evaluate(frameworks, records, encoder=Encoder(backend=backend), repeats=1, progress=False,
                          cache_dir=args.work / backend, methods=methods)
        metrics[backend] = report.metrics
        print(f"evaluate with {backend}: {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print("| framework | n | metric | " + " | ".join(args.backends) + " | difference |")
    print("|---|---|---|" + "---|" * len(args.backends) + "---|")
    out["evaluation"] = {}
    for fid, entry in metrics[reference]["frameworks"].items():
        if "methods" not in entry:
            continue
        rows = [headline(metrics[b]["frameworks"][fid]) for b in args.backends]
        out["evaluation"][fid] = {b: {r[0]: r[1], r[2]: r[3]} for b, r in zip(args.backends, rows, strict=True)}
        for k in (0, 2):
            values = [r[k + 1] for r in rows]
            diffs = ", ".join(f"{v - values[0]:+.3f}" for v in values[1:])
            print(f"| {fid} | {entry['labelled']} | {rows[0][k]} | " + " | ".join(f"{v:.3f}" for v in values)
                  + f" | {diffs} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
