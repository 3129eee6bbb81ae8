"""What every ``goalmatch`` command shares: the exit codes, the outcome a command hands back,
and the small readings of arguments more than one command makes.

A command group (``goalmatch.cli.data``, ``.suggest``, ``.train``, ``.evaluate``, ``.score``,
``.serve``) has plain worker functions that take paths and values, an ``add_parsers(sub)``
that adds its commands (each with ``run=`` set to its ``run_…(args)``), and those run
functions, which call the workers and return what to print. :func:`goalmatch.cli.main.main`
prints it and is the one place an exception becomes a message and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goalmatch.model.matcher import Matcher

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REJECTS", "Outcome", "comma_list",
           "load_matcher"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_REJECTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
"""0 ok; 1 internal error; 2 bad input (the message names it); 3 ``score`` finished with rejected
rows; 130 a resumable command was interrupted (run it again to resume)."""


@dataclass
class Outcome:
    """What a command prints and the code it exits with, where that code is not :data:`EXIT_OK`.

    ``output`` as a run returns it: a list of lines, a text printed as it is, or JSON-ready data.
    """

    output: Any
    code: int = EXIT_OK


def comma_list(value: str | None) -> list[str] | None:
    """``"a, b,"`` → ``["a", "b"]``; ``None`` or an empty value → ``None`` (all of them)."""
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def load_matcher(model: Path | None, **kwargs: Any) -> Matcher:
    """The model folder ``model`` (the shipped ``models/default`` when None), checked file by file."""
    from goalmatch._paths import models_dir
    from goalmatch.model.matcher import Matcher

    return Matcher.load(model if model is not None else models_dir() / "default", **kwargs)
