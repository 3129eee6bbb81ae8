"""The ``goalmatch`` command: a thin layer over the library.

Exit codes (:mod:`goalmatch.cli.command`): 0 ok, 2 bad input (the message names what was
wrong), 1 internal error; ``score`` also 3 (done, with rejected rows) and 130 (interrupted).
The commands come in groups, one module each (``goalmatch.cli.data``, ``.suggest``,
``.train``, ``.evaluate``, ``.benchmark``, ``.score``, ``.serve``): plain worker functions
taking paths and values, the group's parsers, and a ``run`` per command that calls the workers and returns
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

from goalmatch.cli import benchmark, data, evaluate, score, serve, suggest, train, workspace
from goalmatch.cli.command import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, Outcome
from goalmatch.cli.swedish import SwedishArgumentParser
from goalmatch.errors import GoalmatchError

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)
GROUPS = (data, suggest, train, evaluate, benchmark, score, serve, workspace)
"""The command groups, in the order ``goalmatch --help`` lists their commands."""
DESCRIPTION = (
    "goalmatch föreslår vilka strategimål en projektansökan bidrar till, med stöd ur texten. "
    "Handläggarens kommandon: suggest (en text), score (en tabell med ansökningar), report "
    "(portföljrapport), serve (granskningsappen) och administratörens create-user, set-admin, "
    "revoke-sessions, workspace, frameworks och info. Utvecklarkommandon (train, evaluate, benchmark, "
    "corpora, build-corpora, prepare) har hjälptext på engelska. "
    "Skriv goalmatch KOMMANDO --help för ett kommandos flaggor.")
"""The program description of ``goalmatch --help``: Swedish, for the case officer."""


def build_parser() -> argparse.ArgumentParser:
    """The ``goalmatch`` parser: every group's commands, each with its ``run``; argparse's words in Swedish."""
    parser = SwedishArgumentParser(prog="goalmatch", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="skriv förloppet till standardfel (stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="KOMMANDO")
    for group in GROUPS:
        group.add_parsers(sub)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
