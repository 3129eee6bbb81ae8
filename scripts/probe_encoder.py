"""Measure the encoder's throughput on Swedish project-like texts.

Builds ``--n`` texts of about ``--words`` words from the sentences of the shared
seeds 000 and 001 (deterministic shuffle), encodes them once to warm up, then times
``Encoder.transform`` and prints texts per second.

    python scripts/probe_encoder.py                 # 50 texts x ~150 words
    python scripts/probe_encoder.py --threads 2 --batch-size 16

``--batch-tokens`` compares token-budget batching settings (0: fixed batches of
``--batch-size``) on three sets: the texts, their sentences, and both together (what
``Matcher.suggest_many`` encodes for a chunk of a backlog); passes are interleaved and
each setting's median and best are printed. ``--vary 0.5`` draws each text's length
from 50-150 % of ``--words``, as a real backlog does.

    python scripts/probe_encoder.py --n 60 --vary 0.6 --repeat 4 --batch-tokens 0 1024 2048 4096
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from goalmatch.embed.e5build import ensure_e5_small  # noqa: E402
from goalmatch.embed.encoder import DEFAULT_MODEL, Encoder  # noqa: E402


def seed_sentences(shared: Path) -> list[str]:
    """Sentences of at least four words from seeds 000 and 001."""
    out: list[str] = []
    for pattern in ("000_*.txt", "001_*.txt"):
        for path in sorted((shared / "seeds").glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.split()) >= 4]
    if not out:
        raise SystemExit(f"no seed sentences under {shared / 'seeds'}; set GOALMATCH_SHARED")
    return out


def make_texts(sentences: list[str], n: int, words: int, seed: int = 0, vary: float = 0.0) -> list[str]:
    """``n`` texts, each sentences drawn at random until it has about ``words`` words (± ``vary``)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        target = words if not vary else rng.uniform(words * (1 - vary), words * (1 + vary))
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < target:
            parts.append(rng.choice(sentences))
        texts.append(" ".join(parts))
    return texts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="number of texts (default 50)")
    ap.add_argument("--words", type=int, default=150, help="words per text (default 150)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model name or sentence-transformers folder")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes; the best is reported")
    ap.add_argument("--vary", type=float, default=0.0, help="spread of text lengths, 0-0.9 (default 0)")
    ap.add_argument("--batch-tokens", type=int, nargs="+", metavar="N",
                    help="compare token budgets per batch (0: fixed batches of --batch-size)")
    args = ap.parse_args(argv)

    shared = Path(os.environ.get("GOALMATCH_SHARED", REPO.parent / "shared"))
    texts = make_texts(seed_sentences(shared), args.n, args.words, vary=args.vary)
    if args.batch_tokens:
        compare_budgets(texts, args)
        return

    t0 = time.perf_counter()
    if args.model == DEFAULT_MODEL:
        path = ensure_e5_small()
        print(f"model folder: {path} ({time.perf_counter() - t0:.1f} s to build or verify)")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    enc = Encoder(model=args.model, batch_size=args.batch_size)
    t1 = time.perf_counter()
    enc.transform(texts[:2])
    print(f"load + warm-up: {time.perf_counter() - t1:.1f} s; torch threads: {torch.get_num_threads()}")

    tokens = [enc.count_tokens(t) for t in texts]
    words = [len(t.split()) for t in texts]
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        X = enc.transform(texts)
        best = min(best, time.perf_counter() - start)
    print(
        f"{len(texts)} texts, {sum(words) / len(words):.0f} words / {sum(tokens) / len(tokens):.0f} tokens each "
        f"(max {max(tokens)}), batch {args.batch_size}: {best:.2f} s -> {len(texts) / best:.1f} texts/s, "
        f"shape {X.shape}"
    )


def compare_budgets(texts: list[str], args: argparse.Namespace) -> None:
    import statistics

    import numpy as np

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    sets = {"texts": texts, "sentences": sentences, "texts+sentences": texts + sentences}
    encoders = {n: Encoder(model=args.model, batch_size=args.batch_size, batch_tokens=n or None)
                for n in args.batch_tokens}
    reference = None
    for n, enc in encoders.items():
        vectors = enc.transform(texts[:8] + sentences[:8])  # warm-up, and the vectors must agree
        reference = vectors if reference is None else reference
        gap = np.abs(vectors - reference).max()
        print(f"batch_tokens={n or None}: max |difference| to the first setting {gap:.1e}")
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.repeat):
        for name, items in sets.items():
            for n, enc in encoders.items():
                start = time.perf_counter()
                enc.transform(items)
                times.setdefault((name, n), []).append(time.perf_counter() - start)
    print(f"{len(texts)} texts ({min(map(len, texts))}-{max(map(len, texts))} characters), {len(sentences)} "
          f"sentences; batch_size {args.batch_size}; {args.repeat} interleaved passes")
    for name, items in sets.items():
        for n in encoders:
            runs = times[(name, n)]
            print(f"  {name:16} batch_tokens={n or None!s:5} median {statistics.median(runs):6.2f} s, "
                  f"best {min(runs):6.2f} s -> {len(items) / statistics.median(runs):5.1f} texts/s")


if __name__ == "__main__":
    main()
