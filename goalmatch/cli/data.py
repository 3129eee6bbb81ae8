"""``goalmatch frameworks``, ``corpora`` and ``build-corpora``: the strategy frameworks and the
labelled corpora, listed, validated and rebuilt."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.data.corpus import load_corpora
from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.errors import BadInput
from goalmatch.model import render

__all__ = ["add_parsers", "build", "check_frameworks", "corpus_summary", "list_frameworks", "run_build",
           "run_corpora", "run_frameworks"]


def list_frameworks(directory: Path | None) -> list[dict[str, Any]]:
    """One summary row per framework in the folder."""
    return [
        {
            "id": fw.id,
            "name": fw.name,
            "multi_label": fw.multi_label,
            "goals": len(fw.goals),
            "sub_goals": sum(1 for _ in fw.all_goals()) - len(fw.goals),
            "language": fw.language,
            "file": str(fw.path.name if fw.path else ""),
        }
        for fw in load_frameworks(directory).values()
    ]


def check_frameworks(files: Sequence[Path]) -> list[Framework]:
    """Validate framework files; the first error stops with a message naming file and field."""
    return [Framework.from_file(f) for f in files]


def corpus_summary(directory: Path | None, frameworks_dir: Path | None) -> dict[str, Any]:
    """Record and label counts of the corpora, validated against the frameworks."""
    frameworks = load_frameworks(frameworks_dir)
    records = load_corpora(directory, frameworks)
    per_framework: dict[str, dict[str, int]] = {}
    for record in records:
        for framework_id, goals in record.labels.items():
            counts = per_framework.setdefault(framework_id, {})
            for goal in goals:
                counts[goal] = counts.get(goal, 0) + 1
    sources: dict[str, int] = {}
    for record in records:
        sources[record.source] = sources.get(record.source, 0) + 1
    return {"records": len(records), "sources": sources, "labels": per_framework}


def build(shared: Path, out_dir: Path, frameworks_dir: Path | None, annotations: Path | None) -> dict[str, int]:
    """Rebuild the project corpora from the seeds (see :mod:`goalmatch.data.seeds`)."""
    from goalmatch._paths import corpora_dir
    from goalmatch.data.seeds import build_corpora

    if not shared.is_dir():
        raise BadInput(f"{shared}: not a folder (expected the shared material with seeds/ and data/)")
    return build_corpora(
        shared, load_frameworks(frameworks_dir), out_dir, annotations or corpora_dir() / "annotations"
    )


def add_parsers(sub: Any) -> None:
    """Add ``frameworks``, ``corpora`` and ``build-corpora`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("frameworks", help="lista strategierna (ramverken) och deras id:n, eller kontrollera "
                                          "ramverksfiler")
    p.add_argument("--dir", type=Path, metavar="MAPP", help="mapp med ramverksfiler (standard: de medföljande)")
    p.add_argument("--check", type=Path, nargs="+", metavar="FIL", help="kontrollera de här filerna")
    p.add_argument("--json", action="store_true", help="maskinläsbar utdata (JSON med engelska fältnamn)")
    p.set_defaults(run=run_frameworks)

    p = sub.add_parser("corpora", help="för utvecklare: kontrollera projektkorpusarna och räkna deras "
                                       "etiketter")
    p.add_argument("--dir", type=Path, help="folder of JSONL corpora (default: the shipped ones)")
    p.add_argument("--frameworks", type=Path, help="folder of framework files")
    p.set_defaults(run=run_corpora)

    p = sub.add_parser("build-corpora", help="för utvecklare: bygg om projektkorpusarna ur källdokumenten")
    p.add_argument("--shared", type=Path, default=Path("../shared"), help="folder with seeds/ and data/")
    p.add_argument("--out", type=Path, help="output folder (default: the corpora/projects folder)")
    p.add_argument("--frameworks", type=Path, help="folder of framework files")
    p.add_argument("--annotations", type=Path, help="folder of label annotation files")
    p.set_defaults(run=run_build)


def run_frameworks(args: argparse.Namespace) -> Any:
    """The checked files, or the frameworks' rows (as JSON, or as readable lines)."""
    if args.check:
        return [f"ok  {fw.path}  ({fw.id}, {len(fw.goals)} mål)" for fw in check_frameworks(args.check)]
    rows = list_frameworks(args.dir)
    return rows if args.json else [render.framework_line(row) for row in rows]


def run_corpora(args: argparse.Namespace) -> dict[str, Any]:
    return corpus_summary(args.dir, args.frameworks)


def run_build(args: argparse.Namespace) -> list[str]:
    from goalmatch.data.corpus import default_projects_dir

    counts = build(args.shared, args.out or default_projects_dir(), args.frameworks, args.annotations)
    return [f"skrev {n} projekt till {name}" for name, n in counts.items()]
