"""Speed of goalmatch on the shipped model, in one run (issue 14); prints measured figures, asserts nothing.

    python benchmarks/bench_speed.py                    # cold start, throughput on 200 texts, memory
    python benchmarks/bench_speed.py --texts 400 --repeat 7 --out reports/speed.json

1. **Cold start**: ``goalmatch suggest --file examples/ansokan-bredband.txt`` run ``--repeat``
   times as a fresh process (the OS file cache warm, the encoder already built in the user
   cache): median and best wall time and peak RSS (run first, while this process is small:
   ``RUSAGE_CHILDREN`` keeps the largest); and one child process timing each stage
   (interpreter and imports, reading and checking the model folder, tokenizer and weights,
   preparing the text, encoding, heads and evidence, rendering).
2. **Throughput** on the same ``--texts`` realistic applications (a title and 4-12 corpus
   sentences each, as ``bench_batch.py`` makes them), in one process: the raw encoder
   (``Encoder.encode`` on the texts: one vector each), ``Matcher.suggest_many`` with sentence
   evidence, with late sentence evidence (``sentences="late"``) and without, each as texts/s
   and as a ratio to the raw encoder; the
   encoder's numpy and torch backends, and ONNX int8 where onnxruntime is installed.
3. **The review app**: seconds from ``goalmatch serve`` (a fresh SQLite database) to the
   first answered page.
4. **Memory** of fitting four classifiers (zero-shot and three 8-per-goal draws) on the
   589 projects of the Danish 2007-2013 task, each ``GoalClassifier`` making its own
   ``Encoder()`` (peak RSS of a child process, ``VmHWM``: ``ru_maxrss`` would carry the
   parent's peak over the fork).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ansokan-bredband.txt"


def cold_runs(repeat: int) -> dict[str, Any]:
    """``goalmatch suggest --file EXAMPLE`` as fresh processes: wall seconds and peak RSS."""
    walls, rss = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "goalmatch.cli.main", "suggest", "--file", str(EXAMPLE)],
                             capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - started)
        if run.returncode:
            sys.exit(f"goalmatch suggest failed:\n{run.stderr[-2000:]}")
        rss.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return {"runs": repeat, "median_s": round(statistics.median(walls), 2), "best_s": round(min(walls), 2),
            "peak_rss_mib": round(max(rss), 1)}


STAGES = r"""
import json, sys, time
t0 = time.perf_counter(); marks = {}
def mark(name):
    marks[name] = round(time.perf_counter() - t0 - sum(marks.values()), 3)
from goalmatch.cli import main as _cli
from goalmatch.model.matcher import Matcher
mark("imports")
m = Matcher.load()
mark("model_folder")
m.encoder._tokenizer(); m.encoder._bert(1)
mark("tokenizer_and_weights")
from goalmatch.text.prepare import prepare
text = open(sys.argv[1], encoding="utf-8").read()
prepare(text)
mark("prepare_text_and_language")
from goalmatch.text.lemmas import keywords
keywords(text)
mark("lemma_table")
s = m.suggest(text)
mark("encode_heads_evidence")
from goalmatch.model.render import text_lines
text_lines(s)
mark("render")
print(json.dumps(marks))
"""


def cold_stages() -> dict[str, float]:
    """The stages of a cold suggestion, timed inside one fresh process (after the interpreter's own start)."""
    run = subprocess.run([sys.executable, "-c", STAGES, str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return json.loads(run.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def throughput(n: int) -> dict[str, Any]:
    """Texts/s of the raw encoder and of goalmatch on the same texts, in this process."""
    import csv

    import goalmatch
    from goalmatch.embed.encoder import Encoder

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_batch import backlog

    path = backlog(Path(tempfile.mkdtemp()) / "backlog.csv", n)
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [f"{r['titel']}\n\n{r['beskrivning']}" for r in csv.DictReader(handle)]
    matcher = goalmatch.load()
    matcher.suggest_many(texts[:4])  # warm: weights paged in, strategy index built
    timings: dict[str, float] = {}

    def timed(name: str, run: Any) -> None:
        started = time.perf_counter()
        run()
        timings[name] = len(texts) / (time.perf_counter() - started)

    timed("raw_encoder", lambda: matcher.encoder.encode(texts))
    timed("goalmatch_with_evidence", lambda: matcher.suggest_many(texts))
    timed("goalmatch_with_late_sentence_evidence", lambda: matcher.suggest_many(texts, sentences="late"))
    timed("goalmatch_without_sentence_evidence", lambda: matcher.suggest_many(texts, sentences=False))
    timed("raw_encoder_again", lambda: matcher.encoder.encode(texts))
    raw = (timings["raw_encoder"] + timings.pop("raw_encoder_again")) / 2
    timings["raw_encoder"] = raw
    backends: dict[str, float] = {}
    for backend in ("numpy", "torch", "onnx-int8"):
        encoder = Encoder(backend=backend)
        try:
            encoder.encode(texts[:2])
        except ImportError as exc:
            backends[backend] = float("nan")
            print(f"{backend}: not measured ({exc})", file=sys.stderr)
            continue
        started = time.perf_counter()
        encoder.encode(texts)
        backends[backend] = len(texts) / (time.perf_counter() - started)
    tokens = sorted(matcher.encoder.count_tokens(t) for t in texts)
    return {
        "texts": len(texts), "tokens_min_median_max": [tokens[0], tokens[len(tokens) // 2], tokens[-1]],
        "texts_per_s": {k: round(v, 2) for k, v in timings.items()},
        "ratio_to_raw_encoder": {k: round(v / raw, 3) for k, v in timings.items()},
        "encoder_backends_texts_per_s": {k: round(v, 2) for k, v in backends.items()},
    }


FIT_FOUR = r"""
import json, resource, sys
import numpy as np
from pathlib import Path
from goalmatch._paths import benchmarks_dir
from goalmatch.embed.encoder import Encoder
from goalmatch.evaluation.benchmark_tasks import danish_tasks
from goalmatch.model.classifier import GoalClassifier
task = danish_tasks(Path(sys.argv[1]), benchmarks_dir() / "frameworks", ["dk-2007"])[0]
fw, records = task.framework, list(task.records)
texts = [r.text for r in records]
labels = [r.labels[fw.id][0] for r in records]
X = Encoder().encode(texts)
rng = np.random.default_rng(0)
GoalClassifier(framework=fw).fit(X[:0], [])
for draw in range(3):
    rows = [i for g in sorted(set(labels)) for i in rng.permutation([j for j, l in enumerate(labels) if l == g])[:8]]
    GoalClassifier(framework=fw).fit(X[rows], [labels[i] for i in rows])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"projects": len(texts), "peak_rss_mib": round(rss, 1)}))
"""


def web_ready(repeat: int) -> dict[str, Any]:
    """Seconds from ``goalmatch serve`` to the first answered page (a fresh SQLite database each time)."""
    import socket
    import urllib.request

    times = []
    for _ in range(repeat):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        folder = Path(tempfile.mkdtemp())
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "goalmatch.cli.main", "serve", "--port", str(port),
                                   "--database", f"sqlite:///{folder / 'review.db'}"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - started < 120:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as answer:
                        if answer.status == 200:
                            times.append(time.perf_counter() - started)
                            break
                except OSError:
                    time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"runs": repeat, "median_s": round(statistics.median(times), 2) if times else None,
            "best_s": round(min(times), 2) if times else None}


def fit_four(shared: Path) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-c", FIT_FOUR, str(shared)], capture_output=True, text=True, cwd=ROOT)
    if run.returncode:
        return {"error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"}
    return json.loads(run.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    result = {"load_average_at_start": load, "cold_start": cold_runs(args.repeat), "cold_stages_s": cold_stages(),
              "web_ready": web_ready(min(args.repeat, 3)),
              "throughput": throughput(args.texts), "fit_four_classifiers": fit_four(args.shared)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
