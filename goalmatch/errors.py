"""Every error goalmatch raises on purpose, under one base class.

A :class:`GoalmatchError` is a problem the user can fix, and its message says what it
was: the file, row, column or field, and what was expected. Anything else escaping the
library is a bug. The command line turns a ``GoalmatchError`` into exit code 2 and one
line on stderr; everything else into exit code 1 ("internal error").

Each class keeps the built-in base it had (``ValueError`` mostly), so code that caught
those still catches them.

>>> issubclass(FrameworkError, GoalmatchError) and issubclass(FrameworkError, ValueError)
True
>>> str(FrameworkError("rus.yaml", "goals[1].id", "duplicate goal id 'x'"))
"rus.yaml: goals[1].id: duplicate goal id 'x'"
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadInput",
    "BatchError",
    "BuildError",
    "Conflict",
    "CorpusError",
    "E5FormatError",
    "EncoderError",
    "FrameworkError",
    "GoalmatchError",
    "LexiconError",
    "ModelError",
    "StoreError",
    "TableError",
    "UnknownFramework",
    "UploadError",
]


class GoalmatchError(Exception):
    """A problem with the user's input, files or setup; the message names what was wrong."""


class BadInput(GoalmatchError, ValueError):
    """A command's arguments or input cannot be used (the message says which and why)."""


class FrameworkError(GoalmatchError, ValueError):
    """A framework file or mapping is not valid; the message names file, field and problem."""

    def __init__(self, where: str, field_path: str, problem: str) -> None:
        self.where = where
        self.field_path = field_path
        self.problem = problem
        super().__init__(f"{where}: {field_path}: {problem}")


class CorpusError(GoalmatchError, ValueError):
    """A corpus file or record is not valid; the message names file, line and field."""


class BuildError(GoalmatchError, ValueError):
    """The seed material or an annotation could not be turned into records."""


class LexiconError(GoalmatchError, RuntimeError):
    """The Swedish dictionary files are missing or unreadable."""


class E5FormatError(GoalmatchError, ValueError):
    """The packed encoder weights are not what the reader understands."""


class EncoderError(GoalmatchError, RuntimeError):
    """The encoder cannot be built or loaded (missing package, damaged weights or build)."""


class UnknownFramework(GoalmatchError, ValueError):
    """Frameworks asked for that a model does not have; ``unknown`` and ``known`` list the ids."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        self.unknown, self.known = list(unknown), list(known)
        super().__init__(f"unknown framework(s) {', '.join(unknown)}; this model has: {', '.join(known)}")


class ModelError(GoalmatchError, ValueError):
    """A model folder is missing, incomplete, tampered with or made for other frameworks."""


class TableError(GoalmatchError, ValueError):
    """A table that cannot be read or written at all (not one bad row); the message names the file."""


class BatchError(GoalmatchError, ValueError):
    """A batch run that cannot start (bad input file, column, framework or option)."""


# ------------------------------------------------------------------ the review app


class StoreError(GoalmatchError, ValueError):
    """A request the review store cannot carry out (unknown application, bad action or goal)."""


class Conflict(StoreError):
    """Someone else decided on the same application and framework since the form was read."""

    def __init__(self, message: str, current: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.current = current


class UploadError(GoalmatchError, ValueError):
    """An uploaded file the review app does not take (type, size, encoding); the message is Swedish."""
