"""``goalmatch benchmark``: goalmatch as it ships against baselines on realistic data, with a report.

The worker, :func:`benchmark_paths`, reads the tasks and sets by path
(:func:`goalmatch.evaluation.benchmark_tasks.load_benchmark`) and runs
:func:`goalmatch.evaluation.benchmark.run_benchmark`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goalmatch.cli.command import comma_list
from goalmatch.errors import BadInput

if TYPE_CHECKING:
    from goalmatch.evaluation.benchmark import Benchmark

__all__ = ["add_parsers", "benchmark_paths", "run_benchmark_command"]


def benchmark_paths(
    out: Path, *, tasks: list[str] | None = None, shared: Path | None = None, frameworks_dir: Path | None = None,
    offtopic: Path | None = None, regression: Path | None = None, model: Path | None = None, quick: bool = False,
    repeats: int | None = None, seed: int = 0, cache: Path | None = None, command: str | None = None,
    progress: bool = True, backend: str | None = None,
) -> Benchmark:
    """Run the benchmark tasks ``tasks`` (all when None) on the data found by path and write ``out``."""
    from goalmatch.evaluation.benchmark import run_benchmark
    from goalmatch.evaluation.benchmark_tasks import TASKS, load_benchmark

    if repeats is not None and repeats < 1:
        raise BadInput(f"--repeats must be at least 1, got {repeats}")
    names = tasks or list(TASKS)
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise BadInput(f"--tasks: unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    loaded, sets = load_benchmark(names, shared=shared, frameworks_dir=frameworks_dir, offtopic=offtopic,
                                  regression=regression, model=model, quick=quick)
    if repeats is not None:
        sets["repeats"] = repeats
    sets["settings"]["command"] = command or "goalmatch benchmark"
    encoder = None
    if backend is not None:
        from goalmatch.embed.encoder import Encoder

        encoder = Encoder(backend=backend)
        sets["settings"]["backend"] = backend
    return run_benchmark(loaded, encoder=encoder, cache_dir=cache, seed=seed, out_dir=out, progress=progress, **sets)


def add_parsers(sub: Any) -> None:
    """Add ``benchmark`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("benchmark", help="för utvecklare: mät goalmatch mot enklare metoder på realistiska data "
                                             "och skriv en rapport",
                       description="Learning curves (zero-shot, with the unlabelled backlog, 1…32 and all labelled "
                                   "projects per goal) of goalmatch and baselines on the Danish fund projects, "
                                   "TRAIL22 and the shipped corpora; off-topic abstention; the regression set.")
    p.add_argument("--out", type=Path, default=Path("reports/benchmark"),
                   help="report folder: metrics.json, report.md, PNG plots (default reports/benchmark)")
    p.add_argument("--quick", action="store_true", help="the whole path on small subsets, about a minute (CI)")
    p.add_argument("--tasks", help="comma-separated subset of dk-2007, dk-2014, trail22, corpora (default all)")
    p.add_argument("--shared", type=Path, help="the shared data folder (default $GOALMATCH_SHARED or ../shared)")
    p.add_argument("--frameworks", type=Path,
                   help="folder of the benchmark framework files (default benchmarks/frameworks)")
    p.add_argument("--offtopic", type=Path, help="off-topic set (default benchmarks/data/offtopic.jsonl)")
    p.add_argument("--regression", type=Path, help="regression set (default benchmarks/data/regression-sv.jsonl)")
    p.add_argument("--model", type=Path, help="model folder scoring the regression set (default: the shipped one)")
    p.add_argument("--repeats", type=int, help="repeats per task (default 3; 1 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--backend", choices=["auto", "numpy", "torch", "onnx", "onnx-int8"],
                   help="the encoder backend of the learning curves (default auto: e5's float32 vectors); "
                        "the regression and off-topic sets are scored by --model with its own encoder")
    p.set_defaults(run=run_benchmark_command)


def run_benchmark_command(args: argparse.Namespace) -> list[str]:
    """The one-screen summary and the files written."""
    result = benchmark_paths(args.out, tasks=comma_list(args.tasks), shared=args.shared,
                             frameworks_dir=args.frameworks, offtopic=args.offtopic, regression=args.regression,
                             model=args.model, quick=args.quick, repeats=args.repeats, seed=args.seed,
                             cache=args.cache, command=getattr(args, "command_line", None),
                             progress=not args.no_progress, backend=args.backend)
    return [*result.summary(), "", "wrote " + ", ".join(str(f) for f in result.files)]
