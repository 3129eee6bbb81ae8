"""What the JSON API takes and answers: request bodies, stored suggestions, error bodies.

The stored suggestions an application may come with (:data:`SuggestionsIn`, e.g. from
batch scoring) are generated from the suggestion types in
:mod:`goalmatch.model.suggestions`, field by field, so the API takes what
``Suggestions.to_dict()`` writes and a field added to a suggestion type shows up in the
API and its schema. A generated model refuses unknown fields, NaN and infinities; a
float may be ``null`` (``to_dict`` writes an infinity so), except where it must be given.
:data:`REQUIRED` names what must be given, :data:`BOUNDS` the ranges; every other field
may be left out and gets an empty default, since the pages read it.
"""

# no ``from __future__ import annotations`` here: the request models are built per app (their
# schema names the model's framework and goal ids), and pydantic must see the local aliases
# (``Text``) as types, not as strings it would look up in the module.

import dataclasses
import functools
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from goalmatch.model.suggestions import Suggestions
from goalmatch.text.prepare import MAX_TEXT_CHARS
from goalmatch.web.schema import MAX_ID
from goalmatch.web.services import Review
from goalmatch.web.store import ACTIONS

__all__ = ["ERRORS", "MAX_BATCH", "NOT_FOUND", "ConflictOut", "ErrorOut", "SuggestionsIn", "refuse_nul",
           "request_models", "suggestion_model"]

MAX_BATCH = 100
NOT_BLANK = r"\S"  # at least one character that is not white space
STRICT = ConfigDict(extra="forbid")  # a misspelt field (``top-k``) is refused, not silently ignored
STORED = ConfigDict(extra="forbid", allow_inf_nan=False)  # stored suggestions: every field is known
# ``Type.field`` of the suggestion types that a stored suggestion must give, and the ranges of some
REQUIRED = frozenset({"Suggestions.frameworks", "FrameworkSuggestions.framework_id", "Suggestion.goal_id",
                      "Suggestion.probability", "SentenceEvidence.start", "SentenceEvidence.end",
                      "ProjectEvidence.id"})
BOUNDS: dict[str, dict[str, Any]] = {
    "Suggestion.probability": {"ge": 0, "le": 1},
    "SentenceEvidence.start": {"ge": 0, "le": MAX_ID},  # offsets into the text, stored as 32-bit integers
    "SentenceEvidence.end": {"ge": 0, "le": MAX_ID},
}


def refuse_nul(value: Any, where: str = "") -> None:
    r"""Raise ``ValueError`` naming the field where a string holds U+0000 (PostgreSQL cannot store it).

    >>> refuse_nul({"a": ["ok", "b\x00"]})
    Traceback (most recent call last):
    ValueError: a[1]: contains a NUL character (U+0000), which cannot be stored
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'value'}: contains a NUL character (U+0000), which cannot be stored")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, f"{where}.{key}" if where else "a key")
            refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            refuse_nul(item, f"{where}[{i}]")


# ------------------------------------------------------------------ stored suggestions, generated


@functools.cache  # one model per type: ProjectEvidence is in two places, and the schema names it once
def suggestion_model(kind: type) -> type[BaseModel]:
    """The pydantic model ``<Kind>In`` of a suggestion dataclass, with its fields, docstring and rules.

    >>> from goalmatch.model.suggestions import SentenceEvidence
    >>> sorted(suggestion_model(SentenceEvidence).model_fields)
    ['end', 'probability', 'similarity', 'start', 'text']
    """
    hints = get_type_hints(kind)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        where = f"{kind.__name__}.{field.name}"
        annotation, default = _api_type(hints[field.name], where)
        if where in REQUIRED:
            annotation = float if hints[field.name] is float else annotation  # given: a number, not null
            default = ...
        fields[field.name] = (Annotated[annotation, Field(**BOUNDS.get(where, {}))], default)
    return create_model(f"{kind.__name__}In", __config__=STORED, __doc__=kind.__doc__, **fields)


def _api_type(hint: Any, where: str) -> tuple[Any, Any]:
    """The API's type for a suggestion field's type hint, and the default of the field left out."""
    origin, args = get_origin(hint), get_args(hint)
    if dataclasses.is_dataclass(hint):
        model = suggestion_model(hint)  # type: ignore[arg-type]
        optional = all(not f.is_required() for f in model.model_fields.values())
        return model, Field(default_factory=model) if optional else ...
    if origin in (Union, types.UnionType) and type(None) in args and len(args) == 2:
        inner, _ = _api_type(next(a for a in args if a is not type(None)), where)
        return inner | None, None
    if origin in (tuple, list, Sequence) and args and (origin is not tuple or args[1:] in ((), (Ellipsis,))):
        return list[_api_type(args[0], where)[0]], Field(default_factory=list)  # type: ignore[misc]
    if origin in (dict, Mapping) and args:
        return dict[_api_type(args[0], where)[0], _api_type(args[1], where)[0]], Field(  # type: ignore[misc]
            default_factory=dict)
    if hint is float:
        return float | None, 0.0  # to_dict() writes NaN and infinities as null
    if hint in (str, int, bool):
        return hint, hint()
    if hint in (object, Any):
        return Any, None
    raise TypeError(f"{where}: the web API has no rule for {hint!r}; add one to goalmatch.web.payloads")


SuggestionsIn = suggestion_model(Suggestions)


# ------------------------------------------------------------------ requests and answers


class _Body(BaseModel):
    """A request body: no string anywhere in it may hold U+0000 (answered 422, naming the field)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        refuse_nul(data)
        return data


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong, in Swedish (503/507: Swedish and English)")


class ConflictOut(BaseModel):
    detail: str
    current: dict[str, Any] | None = Field(description="the review state someone else saved in between")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the request cannot be carried out (unknown framework, goal, …)"},
    401: {"model": ErrorOut, "description": "no live session and no valid bearer token"},
    403: {"model": ErrorOut, "description": "a session request without its CSRF token (X-CSRF-Token)"},
    413: {"model": ErrorOut, "description": "the request body is too large"},
    503: {"model": ErrorOut, "description": "the database could not be reached; retry after `Retry-After` s"},
    507: {"model": ErrorOut, "description": "the server is out of disk space"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such application"}}


def request_models(service: Review) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel], type[BaseModel]]:
    """The request bodies, with the loaded model's framework and goal ids in the schema (``enum``)."""
    framework_ids = list(service.frameworks)
    goal_ids = sorted({g for fw in service.frameworks.values() for g in fw.goal_ids})
    fw_enum: dict[str, Any] = {"enum": framework_ids}
    goal_enum: dict[str, Any] = {"enum": goal_ids}
    Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NOT_BLANK)]

    class SuggestIn(_Body):
        model_config = STRICT
        text: Text = Field(description="the project description")
        top_k: int = Field(3, ge=1, le=50, description="goals per framework")
        frameworks: list[Annotated[str, Field(json_schema_extra=fw_enum)]] | None = Field(
            None, description="framework ids (default: all of the model's)")

    class BatchIn(_Body):
        model_config = STRICT
        texts: list[Text] = Field(min_length=1, max_length=MAX_BATCH)
        top_k: int = Field(3, ge=1, le=50)
        frameworks: list[Annotated[str, Field(json_schema_extra=fw_enum)]] | None = None

    class ApplicationIn(_Body):
        model_config = STRICT
        text: Text
        title: str = Field("", max_length=300)
        source: str = Field("api", max_length=200)
        suggestions: SuggestionsIn | None = Field(  # type: ignore[valid-type]
            None, description="stored suggestions (Suggestions.to_dict(), e.g. from batch scoring); "
                              "computed if absent")

    class DecisionIn(_Body):
        """A decision; the rules across fields (answered 400) are: ``correct`` needs at least one
        goal, all of ``framework_id``'s, and one only for a single-label framework."""

        model_config = STRICT
        framework_id: str = Field(json_schema_extra=fw_enum)
        action: Literal["accept", "reject", "correct"] = Field(description=" / ".join(ACTIONS))
        goal_ids: list[Annotated[str, Field(json_schema_extra=goal_enum)]] = Field(
            default_factory=list, description="the reviewer's goals (for 'correct')")
        comment: str = Field("", max_length=5000)
        version: int = Field(ge=0, le=MAX_ID,
                             description="the review version the decision was made against (0: none yet)")

    return SuggestIn, BatchIn, ApplicationIn, DecisionIn
