"""``goalmatch evaluate``: cross-validate goalmatch beside the baselines and write a report folder.

The worker, :func:`evaluate_corpora`, reads the frameworks, corpora and (optionally) a model's
settings and runs :func:`goalmatch.evaluation.crossval.evaluate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goalmatch.cli.command import load_matcher
from goalmatch.errors import BadInput

if TYPE_CHECKING:
    from goalmatch.evaluation.crossval import Report

__all__ = ["add_parsers", "evaluate_corpora", "run_evaluate"]


def evaluate_corpora(
    out: Path, *, frameworks_dir: Path | None = None, data: list[Path] | None = None, model: Path | None = None,
    folds: int = 5, repeats: int = 3, seed: int = 0, quick: bool = False, trail22: Path | None = None,
    cache: Path | None = None, progress: bool = True,
) -> Report:
    """Evaluate on the corpora ``data`` (JSONL files or folders; the shipped ones when None) and write ``out``.

    With ``model``, its encoder and head settings are the ones cross-validated.
    """
    from goalmatch.data.corpus import load_corpora, load_corpus_paths
    from goalmatch.data.frameworks import load_frameworks
    from goalmatch.evaluation.crossval import evaluate

    if folds < 2 or repeats < 1:
        raise BadInput(f"--folds must be at least 2 and --repeats at least 1, got {folds} and {repeats}")
    fws = load_frameworks(frameworks_dir)
    records = load_corpus_paths(data, fws) if data else load_corpora(None, fws)
    encoder, params = None, None
    if model is not None:
        matcher = load_matcher(model, frameworks=fws)
        encoder = matcher.encoder
        params = {fid: {k: v for k, v in clf.get_params(deep=False).items() if k not in ("framework", "encoder")}
                  | {"min_similarity": "auto"} for fid, clf in matcher.heads.items()}
    return evaluate(fws, records, encoder=encoder, folds=folds, repeats=repeats, seed=seed, quick=quick,
                    trail22=trail22, out_dir=out, cache_dir=cache, params=params, progress=progress)


def add_parsers(sub: Any) -> None:
    """Add ``evaluate`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("evaluate", help="för utvecklare: korsvalidera goalmatch bredvid enklare metoder och "
                                        "skriv en rapport")
    p.add_argument("--frameworks", type=Path, help="folder of framework files (default: the shipped ones)")
    p.add_argument("--data", type=Path, nargs="+", metavar="DIR_OR_FILE",
                   help="JSONL corpora, or folders of them (default: the shipped corpora)")
    p.add_argument("--model", type=Path, help="take the encoder and head settings from this model folder")
    p.add_argument("--out", type=Path, required=True, help="report folder (metrics.json, report.md, PNG plots)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="repeats with different seeds (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--quick", action="store_true", help="the whole path on a small sample (CI)")
    p.add_argument("--trail22", type=Path, help="TRAIL22 folder (Train_data.csv, Test_data.csv) for agenda-2030")
    p.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> list[str]:
    """The comparison table and the files written."""
    report = evaluate_corpora(args.out, frameworks_dir=args.frameworks, data=args.data, model=args.model,
                              folds=args.folds, repeats=args.repeats, seed=args.seed, quick=args.quick,
                              trail22=args.trail22, cache=args.cache, progress=not args.no_progress)
    return [report.table(), "", "wrote " + ", ".join(str(f) for f in report.files)]
