"""argparse's own words in Swedish, for goalmatch's parsers only (issue 15, item 1).

argparse looks its words up ("usage: ", "options", "the following arguments are required: %s" …)
through the module globals ``argparse._`` and ``argparse.ngettext`` at the moment it uses them:
while building a parser (the group titles, the ``-h`` help) and while parsing and formatting
(the usage line, the error messages). :class:`SwedishArgumentParser` points those two globals
at :class:`SwedishTranslations` only for the length of each of its own calls and puts back what
was there after, so no other program's argparse changes. Its subparsers are of the same class.

A msgid this table lacks (another Python version's wording) stays English: nothing breaks.
"""

from __future__ import annotations

import argparse
import gettext
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

__all__ = ["ARGPARSE_SV", "SwedishArgumentParser", "SwedishTranslations", "swedish_argparse"]

ARGPARSE_SV: dict[str, str] = {
    "usage: ": "användning: ",
    "positional arguments": "argument",
    "options": "flaggor",
    "optional arguments": "flaggor",  # Python 3.9
    "show this help message and exit": "visa den här hjälpen och avsluta",
    "subcommands": "kommandon",
    "%(prog)s: error: %(message)s\n": "%(prog)s: fel: %(message)s\n",
    "argument %(argument_name)s: %(message)s": "%(argument_name)s: %(message)s",
    "the following arguments are required: %s": "följande argument saknas: %s",
    "one of the arguments %s is required": "ett av argumenten %s behövs",
    "not allowed with argument %s": "går inte ihop med %s",
    "unrecognized arguments: %s": "okända argument: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "ogiltigt val: %(value)r (välj bland %(choices)s)",
    "expected one argument": "ett värde behövs efter flaggan",
    "expected at most one argument": "högst ett värde går efter flaggan",
    "expected at least one argument": "minst ett värde behövs efter flaggan",
    "ambiguous option: %(option)s could match %(matches)s": "flaggan %(option)s är tvetydig: %(matches)s?",
    "ignored explicit argument %r": "flaggan tar inget värde: %r",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "okänt kommando %(parser_name)r (välj bland %(choices)s)",
}
"""argparse's English msgids (as in Python 3.11's ``argparse.py``) → Swedish."""

ARGPARSE_PLURAL_SV: dict[str, tuple[str, str]] = {
    "expected %s argument": ("%s värde behövs efter flaggan", "%s värden behövs efter flaggan"),
}
"""``ngettext`` msgids (the singular) → the Swedish singular and plural."""

INVALID_VALUE = "invalid %(type)s value: %(value)r"
VALUE_SV = {"int": "%(value)r är inget heltal", "float": "%(value)r är inget tal (decimaler med punkt, t.ex. 1.5)"}
"""The message for a value of the wrong type, by the name of the type argparse tried."""


class _ValueMessage(str):
    """``invalid %(type)s value``: the Swedish sentence depends on the type, chosen when argparse fills it in."""

    def __mod__(self, values: Any) -> str:
        template = VALUE_SV.get(values.get("type"), "ogiltigt värde: %(value)r (%(type)s)")
        return template % values


class SwedishTranslations(gettext.NullTranslations):
    """argparse's msgids in Swedish; any other message comes back unchanged."""

    def gettext(self, message: str) -> str:
        if message == INVALID_VALUE:
            return _ValueMessage(message)
        return ARGPARSE_SV.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        if msgid1 in ARGPARSE_PLURAL_SV:
            return ARGPARSE_PLURAL_SV[msgid1][n != 1]
        return msgid1 if n == 1 else msgid2


_MISSING = object()


@contextmanager
def swedish_argparse() -> Iterator[None]:
    """argparse speaks Swedish inside the block; its own lookups are put back after, even on ``SystemExit``."""
    translations = SwedishTranslations()
    saved = {name: vars(argparse).get(name, _MISSING) for name in ("_", "ngettext")}
    setattr(argparse, "_", translations.gettext)  # noqa: B010 - argparse's private hook, set on purpose
    setattr(argparse, "ngettext", translations.ngettext)  # noqa: B010
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                delattr(argparse, name)
            else:
                setattr(argparse, name, value)


F = TypeVar("F", bound=Callable[..., Any])


def _in_swedish(method: F) -> F:
    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with swedish_argparse():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class SwedishArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage line, section titles, ``-h`` help and errors are Swedish.

    Each method that looks up one of argparse's words runs inside :func:`swedish_argparse`;
    ``add_subparsers`` hands the class on, so every subcommand's parser is Swedish too.
    """

    __init__ = _in_swedish(argparse.ArgumentParser.__init__)
    add_subparsers = _in_swedish(argparse.ArgumentParser.add_subparsers)
    parse_args = _in_swedish(argparse.ArgumentParser.parse_args)  # type: ignore[assignment]
    parse_known_args = _in_swedish(argparse.ArgumentParser.parse_known_args)  # type: ignore[assignment]
    format_usage = _in_swedish(argparse.ArgumentParser.format_usage)
    format_help = _in_swedish(argparse.ArgumentParser.format_help)
    error = _in_swedish(argparse.ArgumentParser.error)
