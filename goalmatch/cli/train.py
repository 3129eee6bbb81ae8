"""``goalmatch train`` and ``info``: fit a model folder on frameworks and labelled corpora, and
check one against its manifest."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.errors import BadInput

__all__ = ["add_parsers", "model_info", "run_info", "run_train", "train_model"]


def train_model(
    frameworks_dir: Path, data: Sequence[Path], out: Path, *, trail22: Path | None = None, per_goal: int = 100,
    metrics: Path | None = None, cache: Path | None = None, command: str | None = None, force: bool = False,
) -> dict[str, Any]:
    """Train a matcher on the frameworks and corpora (JSONL files or folders) and save it at ``out``.

    ``trail22``: TRAIL22's ``Train_data.csv``, ``per_goal`` of its English texts per SDG added
    to the Agenda 2030 head (see :mod:`goalmatch.data.trail22`).
    """
    from goalmatch.data.corpus import load_corpus_paths
    from goalmatch.data.frameworks import load_frameworks
    from goalmatch.data.trail22 import TRAIL22_FRAMEWORK, TRAIL22_SOURCE, trail22_records
    from goalmatch.model.matcher import Matcher

    if out.exists() and not force:
        raise BadInput(f"{out}: already exists; give another --out or --force to replace it")
    frameworks = load_frameworks(frameworks_dir)
    records = load_corpus_paths(data, frameworks)
    extra, sources = [], []
    if trail22 is not None:
        if TRAIL22_FRAMEWORK not in frameworks:
            raise BadInput(f"--trail22 labels goals of {TRAIL22_FRAMEWORK}, which {frameworks_dir} lacks")
        extra = trail22_records(trail22, per_goal)
        sources.append({**TRAIL22_SOURCE, "file": trail22.name, "texts": len(extra), "per_goal": per_goal})
    figures = None
    if metrics is not None:
        try:
            figures = json.loads(metrics.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(f"{metrics}: cannot read metrics JSON ({exc})") from None
    matcher = Matcher.train(frameworks, records, extra=extra, cache_dir=cache)
    matcher.save(out, command=command, metrics=figures, sources=sources, overwrite=force)
    return {"model": str(out), "frameworks": list(matcher.heads), **matcher.info["training_data"]}


def model_info(model: Path) -> dict[str, Any]:
    """A model folder's manifest, after checking every file against it."""
    from goalmatch.persistence.folder import verify

    return {"verified": True, **verify(model)}


def add_parsers(sub: Any) -> None:
    """Add ``train`` and ``info`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("train", help="för utvecklare: träna en modellmapp på ramverk och märkta korpusar")
    p.add_argument("--frameworks", type=Path, required=True, help="folder of framework files")
    p.add_argument("--data", type=Path, nargs="+", required=True, metavar="DIR_OR_FILE",
                   help="JSONL corpora, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="the model folder to write")
    p.add_argument("--trail22", type=Path, help="TRAIL22 Train_data.csv: English SDG texts for agenda-2030")
    p.add_argument("--trail22-per-goal", type=int, default=100, help="TRAIL22 texts per SDG (default 100)")
    p.add_argument("--metrics", type=Path, help="a JSON file of measured figures to put in the manifest")
    p.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=run_train)

    p = sub.add_parser("info", help="kontrollera en modellmapp och visa dess manifest (versioner, mätvärden)")
    p.add_argument("model", type=Path, metavar="MODELL", help="modellmappen")
    p.set_defaults(run=run_info)


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train; ``args.command_line`` (set by :func:`goalmatch.cli.main.main`) goes into the manifest."""
    if args.trail22_per_goal < 1:
        raise BadInput(f"--trail22-per-goal must be at least 1, got {args.trail22_per_goal}")
    return train_model(
        args.frameworks, args.data, args.out, trail22=args.trail22, per_goal=args.trail22_per_goal,
        metrics=args.metrics, cache=args.cache, command=args.command_line, force=args.force,
    )


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    return model_info(args.model)
