"""Benchmark of batch scoring (``goalmatch.batch.score.score_file``); prints measured figures, asserts nothing.

    python benchmarks/bench_batch.py --rows 2000 20000            # FakeEncoder model: pipeline cost, memory
    python benchmarks/bench_batch.py --rows 200 --real            # the shipped model (multilingual-e5-small)
    python benchmarks/bench_batch.py --rows 200 --real --backend onnx-int8 --compare torch onnx onnx-int8

A backlog of realistic applications is generated from the shipped corpora's sentences
(a title and 4-12 sentences each, seeded). Each size runs in a fresh child process, so
its peak RSS (``ru_maxrss``) is that run's alone. Reported per size: rows/s, time per
stage (reading and checking rows, encoding, heads and evidence, publishing the output),
cold start (loading the model and the first suggestion) and peak RSS. With ``--real``
the same texts are also encoded with ``SentenceTransformer.encode`` directly, for the
ratio of batch scoring to raw encoder throughput (``batch_vs_raw``: fixed batches of 32,
sentence-transformers' own batching), and the share of the run spent outside the encoder
(``outside_encoder_share``); ``encoder_one_call_texts_per_s`` is the same texts through
``Encoder.encode`` in one call (token-budget batches, what the scorer uses).

``--backend onnx-int8`` scores with the ONNX Runtime int8 encoder (the shipped heads were
trained on torch vectors, so this measures speed, not the scores; see
``scripts/onnx_fidelity.py``). ``--compare torch onnx onnx-int8`` also times each
backend's ``Encoder.encode`` on the same texts in the same run (``encoder_texts_per_s``,
``speedup_vs_torch``).

Texts: a title and 4-12 sentences of at least 5 words drawn from the corpora; the
``texts`` entry reports their length in words and in tokens (min, median, max).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def backlog(path: Path, rows: int, seed: int = 0) -> Path:
    """A CSV backlog (id, titel, beskrivning) built from the shipped corpora's sentences."""
    import goalmatch
    from goalmatch.text.prepare import sentences

    records = goalmatch.load_corpora()
    pool = [s.text for r in records for s in sentences(r.text) if len(s.text.split()) >= 5]
    titles = [r.title or r.id for r in records]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "titel", "beskrivning"])
        for i in range(1, rows + 1):
            writer.writerow([f"ANS-{i:06d}", rng.choice(titles), " ".join(rng.sample(pool, rng.randint(4, 12)))])
    return path


def fake_model(folder: Path) -> Path:
    """The shipped frameworks and corpora fitted with the FakeEncoder, saved once."""
    import goalmatch
    from goalmatch.embed.encoder import FakeEncoder
    from goalmatch.model.matcher import Matcher

    if not (folder / "manifest.json").is_file():
        Matcher.train(goalmatch.frameworks(), goalmatch.load_corpora(), encoder=FakeEncoder(dim=384)).save(folder)
    return folder


class _Timed:
    def __init__(self, encoder: Any) -> None:
        self._encoder, self.seconds, self.texts = encoder, 0.0, 0

    def encode(self, texts: Any) -> Any:
        started = time.perf_counter()
        out = self._encoder.encode(texts)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


def child(input: Path, model: Path | None, raw: bool, frameworks: list[str] | None, backend: str = "torch",
          compare: list[str] | None = None, sentences: bool = True) -> dict[str, Any]:
    """One run, in this process: cold start, scoring with stage times, and peak RSS."""
    import goalmatch
    from goalmatch.batch import score as batch
    from goalmatch.batch import tables as tabular

    started = time.perf_counter()
    matcher = goalmatch.load(model)
    loaded = time.perf_counter() - started
    warm = "Projektet bygger fiber till byarna och ordnar kurser för unga företagare."
    if backend != "torch":
        from goalmatch.embed.encoder import Encoder

        matcher = matcher.with_encoder(Encoder(backend=backend))
    matcher.suggest(warm)
    cold = time.perf_counter() - started
    rss_cold = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed = _Timed(matcher.encoder)
    twin = matcher.with_encoder(timed)
    reading = {"s": 0.0}
    rows_of = tabular.Table.rows

    def counted_rows(self: Any) -> Any:
        it = rows_of(self)
        while True:
            t = time.perf_counter()
            row = next(it, None)
            reading["s"] += time.perf_counter() - t
            if row is None:
                return
            yield row

    tabular.Table.rows = counted_rows  # type: ignore[method-assign]
    published = {"s": 0.0}
    publish = batch.publish

    def timed_publish(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = publish(*args, **kwargs)
        published["s"] += time.perf_counter() - t
        return out

    batch.publish = timed_publish  # type: ignore[assignment]
    out = Path(tempfile.mkdtemp()) / "scores.csv"
    t0 = time.perf_counter()
    summary = batch.score_file(input, out, matcher=twin, id_column="id", text_columns=["titel", "beskrivning"],
                               frameworks=frameworks, progress=False, sentences=sentences)
    total = time.perf_counter() - t0
    with input.open(encoding="utf-8", newline="") as handle:
        texts = [f"{r['titel']}\n\n{r['beskrivning']}" for r in csv.DictReader(handle)]
    words = sorted(len(x.split()) for x in texts)
    tokens = sorted(matcher.encoder.count_tokens(x) for x in texts)
    result = {
        "backend": backend if raw else None,
        "sentence_evidence": sentences,
        "texts": {"words_min_median_max": [words[0], words[len(words) // 2], words[-1]],
                  "tokens_min_median_max": [tokens[0], tokens[len(tokens) // 2], tokens[-1]]},
        "frameworks": frameworks or sorted(matcher.heads), "rows": summary.rows, "scored": summary.scored,
        "seconds": round(total, 2),
        "rows_per_s": round(summary.rows / total, 2), "model_load_s": round(loaded, 2),
        "cold_start_s": round(cold, 2),
        "stages_s": {"read_and_check": round(reading["s"], 2), "encode": round(timed.seconds, 2),
                     "publish": round(published["s"], 2),
                     "heads_evidence_journal": round(total - reading["s"] - timed.seconds - published["s"], 2)},
        "encoded_texts": timed.texts,
        "outside_encoder_share": round(1 - timed.seconds / total, 3),
        "peak_rss_after_cold_start_mib": round(rss_cold, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if raw:
        from goalmatch.embed.encoder import Encoder

        reference = Encoder()
        st = reference._st()
        st.encode([reference.prefix + warm])
        t = time.perf_counter()
        st.encode([reference.prefix + x for x in texts], batch_size=reference.batch_size)
        raw_s = time.perf_counter() - t
        result["raw_encode_texts_per_s"] = round(len(texts) / raw_s, 2)
        result["batch_vs_raw"] = round(result["rows_per_s"] / result["raw_encode_texts_per_s"], 3)
        t = time.perf_counter()  # the same texts through Encoder.encode in one call (token-budget batches)
        reference.encode(texts)
        result["encoder_one_call_texts_per_s"] = round(len(texts) / (time.perf_counter() - t), 2)
        speeds = {}
        for name in compare or []:
            encoder = Encoder(backend=name)
            encoder.encode([warm])
            t = time.perf_counter()
            encoder.encode(texts)
            speeds[name] = round(len(texts) / (time.perf_counter() - t), 2)
        if speeds:
            result["encoder_texts_per_s"] = speeds
            if "torch" in speeds:
                result["speedup_vs_torch"] = {k: round(v / speeds["torch"], 2) for k, v in speeds.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--real", action="store_true", help="the shipped model instead of the FakeEncoder")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "goalmatch-bench")
    parser.add_argument("--frameworks", help="comma-separated framework ids (default: all of the model's)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "onnx-int8"],
                        help="the encoder backend batch scoring uses (with --real)")
    parser.add_argument("--compare", nargs="*", choices=["torch", "onnx", "onnx-int8"], default=[],
                        help="with --real: also time these backends' Encoder.encode on the same texts")
    parser.add_argument("--no-sentences", dest="sentences", action="store_false",
                        help="score as 'goalmatch score --no-sentences' (no sentence evidence, sentences not encoded)")
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend != "torch" and not args.real:
        parser.error("--backend needs --real (the FakeEncoder model has no backends)")
    if args.child:
        model = None if args.child[1] == "-" else Path(args.child[1])
        chosen = args.frameworks.split(",") if args.frameworks else None
        print(json.dumps(child(Path(args.child[0]), model, args.real, chosen, args.backend, args.compare,
                               args.sentences)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    model = "-" if args.real else str(fake_model(args.work / "fake-model"))
    for rows in args.rows:
        data = backlog(args.work / f"backlog-{rows}.csv", rows)
        cmd = [sys.executable, __file__, "--child", str(data), model, *(["--real"] if args.real else []),
               *(["--frameworks", args.frameworks] if args.frameworks else []), "--backend", args.backend,
               *(["--compare", *args.compare] if args.compare else []),
               *([] if args.sentences else ["--no-sentences"])]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"benchmark run of {rows} rows failed:\n{run.stderr[-3000:]}")
        out = run.stdout
        print(json.dumps({"encoder": "real" if args.real else "fake", **json.loads(out.splitlines()[-1])}))


if __name__ == "__main__":
    main()
