"""``goalmatch suggest`` and ``prepare``: one project text, its suggested goals with evidence, or
how the text pipeline reads it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.cli.command import comma_list, load_matcher
from goalmatch.errors import BadInput, UnknownFramework
from goalmatch.model import render

__all__ = ["add_parsers", "prepare_text", "read_text", "run_prepare", "run_suggest", "suggest_text"]


def suggest_text(text: str, model: Path | None, top_k: int, frameworks: Sequence[str] | None) -> dict[str, Any]:
    """Suggestions for one text from a saved model (the shipped default when ``model`` is None)."""
    if not text.strip():
        raise BadInput("the text is empty; give a project description (as an argument, --file PATH or '-')")
    if top_k < 1:
        raise BadInput(f"--top-k must be at least 1, got {top_k}")
    matcher = load_matcher(model)
    try:
        matcher.framework_ids(frameworks)
    except UnknownFramework as exc:
        unknown, known = ", ".join(exc.unknown), ", ".join(exc.known)
        raise BadInput(f"--frameworks: unknown {unknown}; the model has {known}") from None
    return matcher.suggest(text, top_k=top_k, frameworks=frameworks).to_dict()


def prepare_text(text: str, chunk_tokens: int) -> dict[str, Any]:
    """The text pipeline's view of one text: cleaned text, flags, keywords, passages."""
    from goalmatch.text.lemmas import keywords
    from goalmatch.text.prepare import chunk, prepare

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


def read_text(text: str | None, file: Path | None) -> str:
    """The text given as an argument, or read from ``file``; ``-`` for either reads standard input.

    A text over :data:`goalmatch.text.prepare.MAX_TEXT_CHARS` characters is refused before
    anything is loaded, as ``goalmatch score`` and the review app refuse it.
    """
    from goalmatch.text.prepare import MAX_TEXT_CHARS

    got = _read_raw(text, file)
    if len(got) > MAX_TEXT_CHARS:
        source = "standard input" if (str(file) == "-" or text == "-") else (str(file) if file else "the text")
        raise BadInput(f"{source}: {len(got):,} characters, over the limit of {MAX_TEXT_CHARS:,} (as in goalmatch "
                       "score and the review app); give the project description alone, or split it")
    return got


def _read_raw(text: str | None, file: Path | None) -> str:
    if file is not None and text is not None:
        raise BadInput("give the text or --file, not both")
    if file is not None:
        if str(file) == "-":
            return _read_stdin()
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"{file}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise BadInput(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if text is None:
        raise BadInput("no text: give it as an argument, or --file PATH ('-' for standard input)")
    return _read_stdin() if text == "-" else text


def _read_stdin() -> str:
    """Standard input as UTF-8 (a BOM allowed); other bytes are refused by name, not guessed."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text stream with no bytes under it (tests replace stdin with StringIO)
        return sys.stdin.read()
    data = buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"standard input: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                       "save the text as UTF-8") from None


def add_parsers(sub: Any) -> None:
    """Add ``prepare`` and ``suggest`` to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("prepare", help="show how the text pipeline reads a text (repair, flags, passages)")
    p.add_argument("text", nargs="?", help="the text ('-' for standard input)")
    p.add_argument("--file", type=Path, help="read the text from a UTF-8 file ('-' for standard input)")
    p.add_argument("--chunk-tokens", type=int, default=128, help="passage budget in words (default 128)")
    p.set_defaults(run=run_prepare)

    p = sub.add_parser("suggest", help="suggest the strategy goals a project text serves, with evidence")
    p.add_argument("text", nargs="?", help="the text ('-' for standard input)")
    p.add_argument("--file", type=Path, help="read the text from a UTF-8 file ('-' for standard input)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped models/default)")
    p.add_argument("--top-k", type=int, default=3, help="goals shown per framework (default 3)")
    p.add_argument("--frameworks", help="comma-separated framework ids (default: all of the model's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_suggest)


def run_prepare(args: argparse.Namespace) -> dict[str, Any]:
    if args.chunk_tokens < 4:
        raise BadInput(f"--chunk-tokens must be at least 4, got {args.chunk_tokens}")
    return prepare_text(read_text(args.text, args.file), args.chunk_tokens)


def run_suggest(args: argparse.Namespace) -> Any:
    """The suggestions as JSON, or as the readable table (:func:`goalmatch.model.render.text_lines`)."""
    result = suggest_text(read_text(args.text, args.file), args.model, args.top_k, comma_list(args.frameworks))
    return result if args.json else render.text_lines(result)
