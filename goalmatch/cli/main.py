"""The ``goalmatch`` command: a thin layer over the library.

Exit codes: 0 ok, 2 bad input (the message names what was wrong), 1 internal error.
Each command is a plain worker function taking paths and values; ``main`` wires the
parser to them and turns library exceptions into messages and exit codes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.data.corpus import Record, load_corpora, load_corpus
from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.errors import BadInput, GoalmatchError
from goalmatch.model import render  # standard library only

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


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


def prepare_text(text: str, chunk_tokens: int) -> dict[str, Any]:
    """The text pipeline's view of one text: cleaned text, flags, keywords, passages."""
    from goalmatch.text.prepare import chunk, keywords, prepare

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

TRAIL22_FRAMEWORK = "agenda-2030"
TRAIL22_SOURCE = {
    "name": "TRAIL22 SDG classification data",
    "used_for": "agenda-2030 head: English SDG-labelled texts as extra labelled examples "
                "(embeddings only; no text is stored in the model)",
    "origin": "TRAIL22 SDG challenge (DelinteNicolas/TRAIL22-SDG), file Train_data.csv",
    "licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
    "attribution": "Contains embeddings of texts from the TRAIL22 SDG challenge data (repository "
                   "DelinteNicolas/TRAIL22-SDG on GitHub), licensed under CC BY 4.0. Changes: a class-balanced "
                   "sample of Train_data.csv (texts under 8 words left out) was encoded with multilingual-e5-small; "
                   "the texts themselves are not included.",
}


def suggest_text(text: str, model: Path | None, top_k: int, frameworks: Sequence[str] | None) -> dict[str, Any]:
    """Suggestions for one text from a saved model (the shipped default when ``model`` is None)."""
    import goalmatch

    if not text.strip():
        raise BadInput("the text is empty; give a project description (as an argument, --file PATH or '-')")
    if top_k < 1:
        raise BadInput(f"--top-k must be at least 1, got {top_k}")
    matcher = goalmatch.load(model)
    if frameworks:
        unknown = [f for f in frameworks if f not in matcher.heads]
        if unknown:
            raise BadInput(f"--frameworks: unknown {', '.join(unknown)}; the model has {', '.join(matcher.heads)}")
    return matcher.suggest(text, top_k=top_k, frameworks=frameworks).to_dict()


def trail22_records(path: Path, per_goal: int) -> list[Record]:
    """A class-balanced, deterministic sample of TRAIL22's CSV as Agenda 2030 training records.

    Columns: an unnamed row index, ``source``, ``header``, ``text``, ``SDG`` (1-17). Texts
    under 8 words are skipped; per SDG the ``per_goal`` texts first by sha256 are kept; a
    text on rows of several SDGs becomes one record with all of them.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    if not rows or not {"text", "SDG"} <= set(rows[0]):
        raise BadInput(f"{path}: expected a CSV with columns 'text' and 'SDG' (TRAIL22's Train_data.csv)")
    texts: dict[str, str] = {}
    goals: dict[str, set[int]] = {}
    for number, row in enumerate(rows, start=2):
        try:
            goal = int(row["SDG"])
        except (TypeError, ValueError):
            raise BadInput(f"{path}, line {number}: column SDG: expected 1-17, got {row['SDG']!r}") from None
        if not 1 <= goal <= 17:
            raise BadInput(f"{path}, line {number}: column SDG: expected 1-17, got {goal}")
        text = " ".join((row.get("text") or "").split())
        if len(text.split()) >= 8:
            key = hashlib.sha256(text.encode("utf-8")).hexdigest()
            texts[key] = text
            goals.setdefault(key, set()).add(goal)
    chosen: set[str] = set()
    for goal in range(1, 18):  # a text labelled with several SDGs (on several rows) is one record
        chosen.update(sorted(k for k in texts if goal in goals[k])[:per_goal])
    records = [
        Record(id=f"trail22/{key[:16]}", text=texts[key], source="trail22",
               labels={TRAIL22_FRAMEWORK: tuple(f"sdg-{g}" for g in sorted(goals[key]))})
        for key in sorted(chosen)
    ]
    return records


def train_model(
    frameworks_dir: Path, data: Sequence[Path], out: Path, *, trail22: Path | None = None, per_goal: int = 100,
    metrics: Path | None = None, cache: Path | None = None, command: str | None = None, force: bool = False,
) -> dict[str, Any]:
    """Train a matcher on the frameworks and corpora (JSONL files or folders) and save it at ``out``."""
    from goalmatch.model.matcher import Matcher
    from goalmatch.persistence.folder import save

    if out.exists() and not force:
        raise BadInput(f"{out}: already exists; give another --out or --force to replace it")
    frameworks = load_frameworks(frameworks_dir)
    records: list[Record] = []
    for item in data:
        if item.is_dir():
            records += load_corpora(item, frameworks)
        elif item.is_file():
            records += load_corpus(item, frameworks)
        else:
            raise BadInput(f"{item}: no such file or folder of JSONL corpora")
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
    save(matcher, out, command=command, metrics=figures, sources=sources, overwrite=force)
    return {"model": str(out), "frameworks": list(matcher.heads), **matcher.info["training_data"]}


def model_info(model: Path) -> dict[str, Any]:
    """A model folder's manifest, after checking every file against it."""
    from goalmatch.persistence.folder import verify

    return {"verified": True, **verify(model)}


def _read_text(text: str | None, file: Path | None) -> str:
    from goalmatch.batch.score import MAX_CHARS

    got = _read_raw(text, file)
    if len(got) > MAX_CHARS:
        source = "standard input" if (str(file) == "-" or text == "-") else (str(file) if file else "the text")
        raise BadInput(f"{source}: {len(got):,} characters, over the limit of {MAX_CHARS:,} (as in goalmatch score "
                       "and the review app); give the project description alone, or split it")
    return got


def _read_raw(text: str | None, file: Path | None) -> str:
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

    p = sub.add_parser("suggest", help="suggest the strategy goals a project text serves, with evidence")
    p.add_argument("text", nargs="?", help="the text ('-' for standard input)")
    p.add_argument("--file", type=Path, help="read the text from a UTF-8 file ('-' for standard input)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped models/default)")
    p.add_argument("--top-k", type=int, default=3, help="goals shown per framework (default 3)")
    p.add_argument("--frameworks", help="comma-separated framework ids (default: all of the model's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("train", help="train a model folder on frameworks and labelled corpora")
    p.add_argument("--frameworks", type=Path, required=True, help="folder of framework files")
    p.add_argument("--data", type=Path, nargs="+", required=True, metavar="DIR_OR_FILE",
                   help="JSONL corpora, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="the model folder to write")
    p.add_argument("--trail22", type=Path, help="TRAIL22 Train_data.csv: English SDG texts for agenda-2030")
    p.add_argument("--trail22-per-goal", type=int, default=100, help="TRAIL22 texts per SDG (default 100)")
    p.add_argument("--metrics", type=Path, help="a JSON file of measured figures to put in the manifest")
    p.add_argument("--cache", type=Path, help="folder to keep embeddings in between runs")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    p = sub.add_parser("info", help="check a model folder and show its manifest")
    p.add_argument("model", type=Path, help="the model folder")
    from goalmatch.batch.portfolio import add_report_parser
    from goalmatch.batch.score import add_score_parser
    from goalmatch.cli.serve import add_serve_parser, add_user_parser  # standard library only
    from goalmatch.evaluation.crossval import add_evaluate_parser, run_evaluate

    add_evaluate_parser(sub).set_defaults(handler=run_evaluate)
    add_score_parser(sub)  # these set a handler that returns the exit code itself
    add_report_parser(sub)
    add_serve_parser(sub)
    add_user_parser(sub)
    return parser


def _run(args: argparse.Namespace) -> Any:
    if args.command == "serve":
        from goalmatch.cli.serve import run_serve

        return run_serve(args)
    if args.command == "create-user":
        from goalmatch.cli.serve import run_user

        return run_user(args)
    if args.command == "frameworks":
        if args.check:
            checked = check_frameworks(args.check)
            return [f"ok  {fw.path}  ({fw.id}, {len(fw.goals)} goals)" for fw in checked]
        rows = list_frameworks(args.dir)
        if args.json:
            return rows
        return [render.framework_line(r) for r in rows]
    if args.command == "corpora":
        return corpus_summary(args.dir, args.frameworks)
    if args.command == "build-corpora":
        from goalmatch.data.corpus import default_projects_dir

        counts = build(args.shared, args.out or default_projects_dir(), args.frameworks, args.annotations)
        return [f"wrote {n} records to {name}" for name, n in counts.items()]
    if args.command == "prepare":
        if args.chunk_tokens < 4:
            raise BadInput(f"--chunk-tokens must be at least 4, got {args.chunk_tokens}")
        return prepare_text(_read_text(args.text, args.file), args.chunk_tokens)
    if args.command == "suggest":
        chosen = [f.strip() for f in args.frameworks.split(",") if f.strip()] if args.frameworks else None
        result = suggest_text(_read_text(args.text, args.file), args.model, args.top_k, chosen)
        return result if args.json else render.text_lines(result)
    if args.command == "train":
        if args.trail22_per_goal < 1:
            raise BadInput(f"--trail22-per-goal must be at least 1, got {args.trail22_per_goal}")
        return train_model(
            args.frameworks, args.data, args.out, trail22=args.trail22, per_goal=args.trail22_per_goal,
            metrics=args.metrics, cache=args.cache, command=args.command_line, force=args.force,
        )
    if args.command == "info":
        return model_info(args.model)
    raise BadInput(f"unknown command {args.command!r}")  # pragma: no cover - argparse refuses first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goalmatch`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.command_line = shlex.join(["goalmatch", *argv])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    handler = getattr(args, "handler", None)
    try:
        if handler is not None:
            return int(handler(args))
        result = _run(args)
    except GoalmatchError as exc:
        print(f"goalmatch: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print(f"goalmatch: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    if isinstance(result, list) and all(isinstance(r, str) for r in result):
        output = "\n".join(result)
    else:
        output = json.dumps(result, ensure_ascii=False, indent=2)
    try:
        print(output)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`goalmatch suggest … | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
