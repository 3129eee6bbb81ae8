"""``goalmatch suggest`` and ``prepare``: project texts, their suggested goals with evidence, or
how the text pipeline reads a text.

A text file may be UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark
(Word's and Notepad's "Unicode") or Windows-1252 (older Swedish office software), found as
``goalmatch score`` finds a table's encoding (:func:`goalmatch._io.decode_text`); a file that is
none of them is refused by name. ``suggest`` takes several files (``--file a.txt --file b.txt``)
and loads the model once for all of them."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch._io import decode_text
from goalmatch.cli.command import comma_list, load_matcher
from goalmatch.errors import BadInput, UnknownFramework
from goalmatch.model import render

__all__ = ["add_parsers", "prepare_lines", "prepare_text", "read_file", "read_text", "run_prepare", "run_suggest",
           "suggest_text",
           "suggest_texts"]

logger = logging.getLogger(__name__)


def suggest_text(text: str, model: Path | None, top_k: int, frameworks: Sequence[str] | None) -> dict[str, Any]:
    """Suggestions for one text from a saved model (the shipped default when ``model`` is None)."""
    return suggest_texts([("the text", text)], model, top_k, frameworks)[0]


def suggest_texts(texts: Sequence[tuple[str, str]], model: Path | None, top_k: int,
                  frameworks: Sequence[str] | None) -> list[dict[str, Any]]:
    """Suggestions for each ``(source, text)``, the model loaded once; ``source`` names an empty text."""
    for source, text in texts:
        if not text.strip():
            where = "the text is empty" if source == "the text" else f"{source}: the text is empty"
            raise BadInput(f"{where}; give a project description (as an argument, --file PATH or '-')")
    if top_k < 1:
        raise BadInput(f"--top-k must be at least 1, got {top_k}")
    matcher = load_matcher(model)
    try:
        matcher.framework_ids(frameworks)
    except UnknownFramework as exc:
        unknown, known = ", ".join(exc.unknown), ", ".join(exc.known)
        raise BadInput(f"--frameworks: unknown {unknown}; the model has {known}") from None
    return [matcher.suggest(text, top_k=top_k, frameworks=frameworks).to_dict() for _, text in texts]


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
    got = _read_raw(text, file)
    _check_length(got, text, file)
    return got


def _check_length(got: str, text: str | None, file: Path | None) -> None:
    from goalmatch.text.prepare import MAX_TEXT_CHARS

    if len(got) > MAX_TEXT_CHARS:
        source = "standard input" if (str(file) == "-" or text == "-") else (str(file) if file else "the text")
        raise BadInput(f"{source}: {len(got):,} characters, over the limit of {MAX_TEXT_CHARS:,} (as in goalmatch "
                       "score and the review app); give the project description alone, or split it")


def _read_raw(text: str | None, file: Path | None) -> str:
    if file is not None and text is not None:
        raise BadInput("give the text or --file, not both")
    if file is not None:
        if str(file) == "-":
            return _read_stdin()
        return read_file(file)
    if text is None:
        raise BadInput("no text: give it as an argument, or --file PATH ('-' for standard input)")
    return _read_stdin() if text == "-" else text


def read_file(file: Path) -> str:
    """A text file's text in UTF-8, UTF-16 with a byte-order mark or Windows-1252 (see the module docstring);
    a :class:`BadInput` naming the file when it cannot be read or decoded."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadInput(f"{file}: cannot read: {exc.strerror}") from None
    try:
        text, encoding = decode_text(data)
    except UnicodeDecodeError as exc:
        raise BadInput(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start}), nor UTF-16 with a byte-order "
                       f"mark or Windows-1252; save it as UTF-8") from None
    if "\x00" in text:
        raise BadInput(f"{file}: holds NUL characters (UTF-16 without a byte-order mark, or not a text file); "
                       f"save it as UTF-8")
    if encoding != "utf-8":
        logger.info("%s: read as %s", file, encoding)
    return text


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
    p = sub.add_parser("prepare", help="för utvecklare: visa hur textflödet läser en text (reparation, "
                                              "flaggor, stycken)")
    p.add_argument("text", nargs="?", help="the text ('-' for standard input)")
    p.add_argument("--file", type=Path, help="read the text from a file: UTF-8, UTF-16 with BOM or Windows-1252 "
                                             "('-' for standard input)")
    p.add_argument("--chunk-tokens", type=int, default=128, help="passage budget in words (default 128)")
    p.add_argument("--json", action="store_true", help="machine-readable output (the text, flags, keywords and "
                                                       "passages with offsets)")
    p.set_defaults(run=run_prepare)

    p = sub.add_parser("suggest", help="föreslå de strategimål en projekttext bidrar till, med belägg",
                       description="Föreslår mål för en text, eller för var och en av flera filer (--file a.txt "
                                   "--file b.txt; modellen laddas en gång). Filerna får vara UTF-8, UTF-16 med "
                                   "byte-order mark (BOM) eller Windows-1252.")
    p.add_argument("text", nargs="?", metavar="TEXT", help="texten ('-' för standard in)")
    p.add_argument("--file", type=Path, action="append", dest="files", metavar="FIL",
                   help="läs en text från FIL (UTF-8, UTF-16 med BOM eller Windows-1252; '-' för standard in); "
                        "upprepa för flera filer")
    p.add_argument("--model", type=Path, metavar="MODELL", help="modellmapp (standard: den medföljande models/default)")
    p.add_argument("--top-k", type=int, default=3, metavar="ANTAL", help="mål som visas per ramverk (standard 3)")
    p.add_argument("--frameworks", metavar="RAMVERK",
                   help="kommaseparerade id:n för ramverken (standard: alla modellens)")
    p.add_argument("--json", action="store_true", help="maskinläsbar utdata (JSON med engelska fältnamn)")
    p.set_defaults(run=run_suggest)


def run_prepare(args: argparse.Namespace) -> dict[str, Any] | list[str]:
    """How the pipeline reads the text: as JSON with ``--json``, else as Swedish lines (:func:`prepare_lines`)."""
    if args.chunk_tokens < 4:
        raise BadInput(f"--chunk-tokens must be at least 4, got {args.chunk_tokens}")
    result = prepare_text(read_text(args.text, args.file), args.chunk_tokens)
    return result if args.json else prepare_lines(result)


def prepare_lines(result: dict[str, Any]) -> list[str]:
    """:func:`prepare_text`'s result for people, in Swedish: the flags, the keywords (as the text has
    them, not as lemmas), each passage on one line."""
    words = render.surface_words(result["text"], result["keywords"])
    lines = [f"Texten: {', '.join(render.flags_sv(result['flags']))}", f"Nyckelord: {', '.join(words) or '–'}",
             "", f"Stycken ({len(result['passages'])}):"]
    lines += [f"  {n}. {' '.join(passage['text'].split())}" for n, passage in enumerate(result["passages"], start=1)]
    if result["flags"].get("repaired"):
        lines += ["", "Texten efter reparation:", result["text"]]
    return lines


def run_suggest(args: argparse.Namespace) -> Any:
    """The suggestions as JSON, or as the readable Swedish table (:func:`goalmatch.model.render.text_lines`).

    Several files give, in JSON, a list of ``{"file": PATH, "suggestions": …}``, and as text one
    table per file under a ``== PATH ==`` line; one text or file gives its suggestions alone."""
    files = args.files or []
    if len(files) <= 1:
        text = read_text(args.text, files[0] if files else None)
        result = suggest_text(text, args.model, args.top_k, comma_list(args.frameworks))
        return result if args.json else render.text_lines(result, text)
    if args.text is not None:
        raise BadInput("give the text or --file, not both")
    if sum(str(f) == "-" for f in files) > 1:
        raise BadInput("standard input ('-') can be read once; give it as one --file only")
    texts = [(str(f), read_text(None, f)) for f in files]  # every file read, and checked, before the model loads
    results = suggest_texts(texts, args.model, args.top_k, comma_list(args.frameworks))
    if args.json:
        return [{"file": name, "suggestions": result} for (name, _), result in zip(texts, results, strict=True)]
    lines: list[str] = []
    for (name, text), result in zip(texts, results, strict=True):
        lines += [*([""] if lines else []), f"== {name} ==", *render.text_lines(result, text)]
    return lines
