"""The ``goalmatch`` command: a thin layer over the library.

Exit codes (:mod:`goalmatch.cli.command`): 0 ok, 2 bad input (the message names what was
wrong), 1 internal error; ``score`` also 3 (done, with rejected rows) and 130 (interrupted).
The commands come in groups, one module each (``goalmatch.cli.data``, ``.suggest``,
``.train``, ``.evaluate``, ``.score``, ``.serve``): plain worker functions taking paths and
values, the group's parsers, and a ``run`` per command that calls the workers and returns
what to print. :func:`main` builds the parser from the groups, prints what a run returns,
and is the one place an exception becomes a message and an exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from goalmatch.cli import data, evaluate, score, serve, suggest, train
from goalmatch.cli.command import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, Outcome
from goalmatch.errors import GoalmatchError

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)
GROUPS = (data, suggest, train, evaluate, score, serve)
"""The command groups, in the order ``goalmatch --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    """The ``goalmatch`` parser: every group's commands, each with its ``run``."""
    parser = argparse.ArgumentParser(prog="goalmatch", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    # the readable views are still written here, and a group cannot import this module (a
    # cycle): suggest's and frameworks' runs reach them as args.show
    sub.choices["suggest"].set_defaults(show=format_suggestions)
    sub.choices["frameworks"].set_defaults(show=format_frameworks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goalmatch`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["goalmatch", *argv])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        outcome = args.run(args)
    except KeyboardInterrupt:
        if not getattr(args, "resumable", False):
            raise
        return _fail("interrupted; run the same command again to resume", EXIT_INTERRUPTED)
    except Exception as exc:
        return _fail(*_failure(exc, getattr(args, "resumable", False)))
    if not isinstance(outcome, Outcome):
        outcome = Outcome(outcome)
    _print(outcome.output)
    return outcome.code


def _failure(exc: Exception, resumable: bool) -> tuple[str, int]:
    """The message and exit code of an exception that ended a command."""
    if isinstance(exc, GoalmatchError):
        return f"error: {exc}", EXIT_BAD_INPUT
    if isinstance(exc, OSError) and resumable:  # the machine's fault (disk full, I/O): what is done is kept
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{exc.strerror or exc}; fix it and run the same command again to resume", EXIT_INTERNAL
    logger.debug("internal error", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL


def _fail(message: str, code: int) -> int:
    print(f"goalmatch: {message}", file=sys.stderr)
    return code


def _print(output: Any) -> None:
    """Lines one per line, a text as it is, anything else as JSON; quiet when the reader went away."""
    if isinstance(output, str):
        text = output
    elif isinstance(output, list) and all(isinstance(r, str) for r in output):
        text = "\n".join(output) + "\n"
    else:
        text = json.dumps(output, ensure_ascii=False, indent=2) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`goalmatch suggest … | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# ------------------------------------------------------------------ readable views


def format_frameworks(rows: list[dict[str, Any]]) -> list[str]:
    """The readable list of :func:`goalmatch.cli.data.list_frameworks`' rows."""
    return [
        f"{r['id']:<26} {r['goals']:>3} goals{_subgoals(r)}"
        f"{'  multi-label' if r['multi_label'] else ''}  {r['name']}"
        for r in rows
    ]


def format_suggestions(result: dict[str, Any]) -> list[str]:
    """The readable table of :func:`suggest_text`'s result: per framework, bars and evidence."""
    flags = result["flags"]
    notes = [f"language {flags['language']}"]
    notes += ["repaired PDF text"] if flags["repaired"] else []
    notes += ["TOO SHORT to judge well"] if flags["too_short"] else []
    lines = [f"text: {', '.join(notes)}"]
    for fw in result["frameworks"]:
        lines += ["", f"{fw['name']}  [{fw['framework_id']}]"]
        if fw["abstained"]:
            lines.append(f"  ingen säker träff (no confident match): {fw['reason']}")
        for s in fw["suggestions"]:
            p = s["probability"]
            bar = "█" * round(p * 20) + "░" * (20 - round(p * 20))
            mark = "✓" if s["confident"] else " "
            lines.append(f"  {mark} {bar} {p:5.2f}  {s['goal_id']}: {s['name']}")
            ev = s["evidence"]
            for sent in ev["sentences"][:1]:
                lines.append(f"        text [{sent['start']}:{sent['end']}]: {_clip(sent['text'])}")
            if ev["passage"]:
                ps = ev["passage"]
                where = f"{ps['kind']} {ps['goal_id']} ({ps['similarity']:.2f})"
                lines.append(f"        matches {where}: {_clip(ps['text'])}")
            if ev["projects"]:
                pr = ev["projects"][0]
                title = _clip(pr["title"] or "", 60)
                lines.append(f"        like project {pr['id']} ({pr['similarity']:.2f}): {title}")
            if ev["key_terms"]:
                lines.append(f"        shared terms: {', '.join(ev['key_terms'])}")
    return lines


def _clip(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _subgoals(row: dict[str, Any]) -> str:
    return f" (+{row['sub_goals']} sub-goals)" if row["sub_goals"] else ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
