"""The ``goalmatch`` command: a thin layer over the library.

Exit codes: 0 ok, 2 bad input (the message names what was wrong), 1 internal error.
Each command is a plain worker function taking paths and values; ``main`` wires the
parser to them and turns library exceptions into messages and exit codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.corpus import CorpusError, load_corpora
from goalmatch.seeds import BuildError
from goalmatch.taxonomy import Framework, FrameworkError, load_frameworks

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Raised by workers for a problem the user can fix."""


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
    """Rebuild the project corpora from the seeds (see :mod:`goalmatch.seeds`)."""
    from goalmatch._paths import corpora_dir
    from goalmatch.seeds import build_corpora

    if not shared.is_dir():
        raise BadInput(f"{shared}: not a folder (expected the shared material with seeds/ and data/)")
    return build_corpora(
        shared, load_frameworks(frameworks_dir), out_dir, annotations or corpora_dir() / "annotations"
    )


def prepare_text(text: str, chunk_tokens: int) -> dict[str, Any]:
    """The text pipeline's view of one text: cleaned text, flags, keywords, passages."""
    from goalmatch.text import chunk, keywords, prepare

    prepared = prepare(text)
    return {
        "text": prepared.text,
        "flags": prepared.flags,
        "keywords": keywords(prepared.text, top_k=12),
        "passages": [
            {"start": s, "end": e, "text": p.text}
            for p in chunk(prepared.text, max_tokens=chunk_tokens)
            for s, e in [prepared.original_span(p.start, p.end)]
        ],
    }


def _read_text(text: str | None, file: Path | None) -> str:
    if file is not None and text is not None:
        raise BadInput("give the text or --file, not both")
    if file is not None:
        if str(file) == "-":
            return sys.stdin.read()
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"{file}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise BadInput(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if text is None:
        raise BadInput("no text: give it as an argument, or --file PATH ('-' for standard input)")
    return sys.stdin.read() if text == "-" else text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goalmatch", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("frameworks", help="list the strategy frameworks, or validate framework files")
    p.add_argument("--dir", type=Path, help="folder of framework files (default: the shipped ones)")
    p.add_argument("--check", type=Path, nargs="+", metavar="FILE", help="validate these files")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("corpora", help="validate the project corpora and count their labels")
    p.add_argument("--dir", type=Path, help="folder of JSONL corpora (default: the shipped ones)")
    p.add_argument("--frameworks", type=Path, help="folder of framework files")

    p = sub.add_parser("build-corpora", help="rebuild corpora/projects from the seed documents")
    p.add_argument("--shared", type=Path, default=Path("../shared"), help="folder with seeds/ and data/")
    p.add_argument("--out", type=Path, help="output folder (default: the corpora/projects folder)")
    p.add_argument("--frameworks", type=Path, help="folder of framework files")
    p.add_argument("--annotations", type=Path, help="folder of label annotation files")

    p = sub.add_parser("prepare", help="show how the text pipeline reads a text (repair, flags, passages)")
    p.add_argument("text", nargs="?", help="the text ('-' for standard input)")
    p.add_argument("--file", type=Path, help="read the text from a UTF-8 file ('-' for standard input)")
    p.add_argument("--chunk-tokens", type=int, default=128, help="passage budget in words (default 128)")
    return parser


def _subgoals(row: dict[str, Any]) -> str:
    return f" (+{row['sub_goals']} sub-goals)" if row["sub_goals"] else ""


def _run(args: argparse.Namespace) -> Any:
    if args.command == "frameworks":
        if args.check:
            checked = check_frameworks(args.check)
            return [f"ok  {fw.path}  ({fw.id}, {len(fw.goals)} goals)" for fw in checked]
        rows = list_frameworks(args.dir)
        if args.json:
            return rows
        return [
            f"{r['id']:<26} {r['goals']:>3} goals{_subgoals(r)}"
            f"{'  multi-label' if r['multi_label'] else ''}  {r['name']}"
            for r in rows
        ]
    if args.command == "corpora":
        return corpus_summary(args.dir, args.frameworks)
    if args.command == "build-corpora":
        from goalmatch.corpus import default_projects_dir

        counts = build(args.shared, args.out or default_projects_dir(), args.frameworks, args.annotations)
        return [f"wrote {n} records to {name}" for name, n in counts.items()]
    if args.command == "prepare":
        if args.chunk_tokens < 4:
            raise BadInput(f"--chunk-tokens must be at least 4, got {args.chunk_tokens}")
        return prepare_text(_read_text(args.text, args.file), args.chunk_tokens)
    raise BadInput(f"unknown command {args.command!r}")  # pragma: no cover - argparse refuses first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goalmatch`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        result = _run(args)
    except (BadInput, FrameworkError, CorpusError, BuildError) as exc:
        print(f"goalmatch: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print(f"goalmatch: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    if isinstance(result, list) and all(isinstance(r, str) for r in result):
        print("\n".join(result))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
