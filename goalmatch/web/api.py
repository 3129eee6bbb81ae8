"""The JSON API of the review app (FastAPI's OpenAPI at ``/api/openapi.json``, UI at ``/api/docs``).

Every route needs a session cookie (and, for writes, its ``X-CSRF-Token``) or
``Authorization: Bearer <token>``; the app's guard checks both before a route runs.

``/api/docs`` never loads anything from a CDN: it serves Swagger UI's files from the
``fastapi-offline`` package when that is installed (mounted at ``/static/swagger-ui``;
only its static folder is used, not its FastAPI subclass), and otherwise a plain page
that links to the OpenAPI document.
"""

# no ``from __future__ import annotations`` here: the request models are built per app (their
# schema names the model's framework and goal ids), and FastAPI must see the route functions'
# annotations as those local classes, not as strings it would look up in the module.

from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from goalmatch.web.schema import MAX_ID
from goalmatch.web.services import MAX_TEXT_CHARS, Review
from goalmatch.web.store import ACTIONS, Conflict, StoreError

__all__ = ["api_router", "swagger_ui_assets"]

MAX_BATCH = 100
SWAGGER_PREFIX = "/static/swagger-ui"
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
            "form-action 'self'")


def swagger_ui_assets() -> Path | None:
    """The folder with Swagger UI 5's ``swagger-ui-bundle.js`` and ``swagger-ui.css`` (``fastapi-offline``).

    Found without importing the package. Swagger UI 5 is needed: FastAPI writes OpenAPI 3.1,
    which Swagger UI 4 (e.g. the ``swagger-ui-bundle`` package) cannot show.
    """
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "static"
        if (folder / "swagger-ui-bundle.js").is_file() and (folder / "swagger-ui.css").is_file():
            return folder
    return None


def _docs_page(csrf: str, local_ui: bool) -> str:
    head = ('<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>goalmatch API</title>'
            f'<meta name="csrf-token" content="{escape(csrf)}">')
    if not local_ui:
        return (head + '<link rel="stylesheet" href="/static/style.css"></head><body><main>'
                "<h1>goalmatch API</h1><p>API-beskrivningen (OpenAPI 3) finns på "
                '<a href="/api/openapi.json">/api/openapi.json</a>. Det interaktiva gränssnittet (Swagger UI) '
                "visas här när paketet <code>fastapi-offline</code> är installerat.</p>"
                '<p><a href="/queue">Till kön</a></p></main></body></html>')
    return (head + f'<link rel="stylesheet" href="{SWAGGER_PREFIX}/swagger-ui.css"></head><body>'
            '<p><a href="/queue">Till kön</a> · <a href="/api/openapi.json">openapi.json</a></p>'
            f'<div id="swagger-ui"></div><script src="{SWAGGER_PREFIX}/swagger-ui-bundle.js"></script>'
            '<script src="/static/swagger-init.js"></script></body></html>')


NOT_BLANK = r"\S"  # at least one character that is not white space
STRICT = ConfigDict(extra="forbid")  # a misspelt field (``top-k``) is refused, not silently ignored
OPEN = ConfigDict(extra="allow")  # stored suggestions may carry more than the pages read


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


class SentenceIn(BaseModel):
    model_config = OPEN
    start: int = Field(ge=0, le=MAX_ID)
    end: int = Field(ge=0, le=MAX_ID)
    text: str = ""


class PassageIn(BaseModel):
    model_config = OPEN
    goal_id: str = ""
    kind: str = ""
    text: str = ""


class ProjectIn(BaseModel):
    model_config = OPEN
    id: str
    title: str | None = None
    similarity: float = 0.0


class EvidenceIn(BaseModel):
    model_config = OPEN
    sentences: list[SentenceIn] = Field(default_factory=list)
    passage: PassageIn | None = None
    projects: list[ProjectIn] = Field(default_factory=list)
    key_terms: list[str] = Field(default_factory=list)


class SuggestionIn(BaseModel):
    model_config = OPEN
    goal_id: str
    name: str = ""
    probability: float = Field(ge=0, le=1)
    confident: bool = False
    evidence: EvidenceIn = Field(default_factory=EvidenceIn)


class FrameworkResultIn(BaseModel):
    model_config = OPEN
    framework_id: str
    name: str = ""
    abstained: bool = False
    reason: str | None = None
    suggestions: list[SuggestionIn] = Field(default_factory=list)


class SuggestionsIn(BaseModel):
    """Stored suggestions as ``Suggestions.to_dict()`` gives them (e.g. from batch scoring)."""

    model_config = OPEN
    frameworks: list[FrameworkResultIn]
    flags: dict[str, Any] = Field(default_factory=dict)


def _models(service: Review) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel], type[BaseModel]]:
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
        suggestions: SuggestionsIn | None = Field(
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


def api_router(service: Review) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)
    SuggestIn, BatchIn, ApplicationIn, DecisionIn = _models(service)
    AppId = Annotated[int, PathParam(ge=1, le=MAX_ID)]

    def user(request: Request) -> str:
        return str(request.state.session.user)

    @router.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    local_ui = swagger_ui_assets() is not None

    @router.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI from local files (no CDN), or a link to the OpenAPI document."""
        return HTMLResponse(_docs_page(request.state.session.csrf, local_ui), headers={
            "Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin"})

    @router.get("/frameworks")
    def frameworks() -> list[dict[str, Any]]:
        """The model's frameworks and their goals (the ids decisions take)."""
        return [{"id": fw.id, "name": fw.name, "multi_label": fw.multi_label,
                 "goals": [{"id": g.id, "name": g.name} for g in fw.goals]} for fw in service.frameworks.values()]

    @router.post("/suggest")
    def suggest(body: SuggestIn) -> dict[str, Any]:  # type: ignore[valid-type]
        """Suggestions for one text, as ``goalmatch suggest --json`` gives them."""
        try:
            return service.suggest(body.text, body.top_k, body.frameworks)  # type: ignore[attr-defined]
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.post("/suggest/batch")
    def suggest_batch(body: BatchIn) -> dict[str, Any]:  # type: ignore[valid-type]
        """Suggestions for up to 100 texts, in order."""
        try:
            return {"results": [service.suggest(t, body.top_k, body.frameworks)  # type: ignore[attr-defined]
                                for t in body.texts]}  # type: ignore[attr-defined]
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.get("/applications")
    def applications() -> list[dict[str, Any]]:
        """Every application (without its text and suggestions) with its review states."""
        return service.store.applications(content=False)

    @router.post("/applications", status_code=201)
    def add_application(body: ApplicationIn, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        """Store an application; its suggestions are computed unless given."""
        given = body.suggestions  # type: ignore[attr-defined]
        stored = given.model_dump() if given is not None else None  # with defaults: the pages read them
        try:
            return {"id": service.import_text(body.title, body.text, body.source,  # type: ignore[attr-defined]
                                              user(request), stored)}
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.get("/applications/{application_id}", responses=NOT_FOUND)
    def application(application_id: AppId) -> dict[str, Any]:  # type: ignore[valid-type]
        try:
            app = service.store.application(application_id)
        except StoreError:
            raise StarletteHTTPException(404, f"ansökan {application_id} finns inte") from None
        app["reviews"] = service.store.review_states(application_id)
        return app

    @router.get("/applications/{application_id}/decisions")
    def decisions(application_id: AppId) -> list[dict[str, Any]]:  # type: ignore[valid-type]
        """The audit trail of one application, oldest first (empty for an unknown one)."""
        return [d.to_dict() for d in service.store.decisions(application_id)]

    @router.post("/applications/{application_id}/decisions", status_code=201, responses={
        **NOT_FOUND, 409: {"model": ConflictOut, "description": "someone decided since `version`; read the state "
                                                                "and retry"}})
    def decide(application_id: AppId, body: DecisionIn, request: Request) -> Any:  # type: ignore[valid-type]
        try:
            decision = service.decide(application_id, body.framework_id, body.action,  # type: ignore[attr-defined]
                                      body.goal_ids, reviewer=user(request),  # type: ignore[attr-defined]
                                      version=body.version, comment=body.comment)  # type: ignore[attr-defined]
        except Conflict as exc:
            return JSONResponse({"detail": str(exc), "current": exc.current}, 409)
        except StoreError as exc:
            status = 404 if str(exc).startswith("no application") else 400
            raise StarletteHTTPException(status, str(exc)) from None
        return decision.to_dict()

    return router
