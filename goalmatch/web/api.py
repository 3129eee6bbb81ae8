"""The JSON API of the review app (FastAPI's OpenAPI at ``/api/openapi.json``, UI at ``/api/docs``).

Every route needs a session cookie (and, for writes, its ``X-CSRF-Token``) or
``Authorization: Bearer <token>``; the app's guard checks both before a route runs.

``/api/docs`` never loads anything from a CDN: it serves Swagger UI's files from the
``fastapi-offline`` package when that is installed (mounted at ``/static/swagger-ui``;
only its static folder is used, not its FastAPI subclass), and otherwise a plain page
that links to the OpenAPI document. The request and answer bodies are in
:mod:`goalmatch.web.payloads`.
"""

# no ``from __future__ import annotations`` here: the request models are built per app (their
# schema names the model's framework and goal ids), and FastAPI must see the route functions'
# annotations as those local classes, not as strings it would look up in the module.

from html import escape
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from goalmatch.web.payloads import ERRORS, NOT_FOUND, ConflictOut, request_models
from goalmatch.web.schema import MAX_ID
from goalmatch.web.services import Review
from goalmatch.web.store import Conflict, StoreError

__all__ = ["api_router", "swagger_ui_assets"]

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


AppId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


def api_router(service: Review) -> APIRouter:
    """The ``/api`` routes over the app's :class:`~goalmatch.web.services.Review`."""
    router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)
    SuggestIn, BatchIn, ApplicationIn, DecisionIn = request_models(service)
    _add_description_routes(router, service)
    _add_suggest_routes(router, service, SuggestIn, BatchIn)
    _add_application_routes(router, service, ApplicationIn, DecisionIn)
    return router


def _user(request: Request) -> str:
    return str(request.state.session.user)


def _add_description_routes(router: APIRouter, service: Review) -> None:
    """The OpenAPI document, its UI, and the model's frameworks."""
    local_ui = swagger_ui_assets() is not None

    @router.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

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


def _add_suggest_routes(router: APIRouter, service: Review, SuggestIn: type[BaseModel],
                        BatchIn: type[BaseModel]) -> None:
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


def _add_application_routes(router: APIRouter, service: Review, ApplicationIn: type[BaseModel],
                            DecisionIn: type[BaseModel]) -> None:
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
                                              _user(request), stored)}
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.get("/applications/{application_id}", responses=NOT_FOUND)
    def application(application_id: AppId) -> dict[str, Any]:
        try:
            app = service.store.application(application_id)
        except StoreError:
            raise StarletteHTTPException(404, f"ansökan {application_id} finns inte") from None
        app["reviews"] = service.store.review_states(application_id)
        return app

    @router.get("/applications/{application_id}/decisions")
    def decisions(application_id: AppId) -> list[dict[str, Any]]:
        """The audit trail of one application, oldest first (empty for an unknown one)."""
        return [d.to_dict() for d in service.store.decisions(application_id)]

    @router.post("/applications/{application_id}/decisions", status_code=201, responses={
        **NOT_FOUND, 409: {"model": ConflictOut, "description": "someone decided since `version`; read the state "
                                                                "and retry"}})
    def decide(application_id: AppId, body: DecisionIn, request: Request) -> Any:  # type: ignore[valid-type]
        try:
            decision = service.decide(application_id, body.framework_id, body.action,  # type: ignore[attr-defined]
                                      body.goal_ids, reviewer=_user(request),  # type: ignore[attr-defined]
                                      version=body.version, comment=body.comment)  # type: ignore[attr-defined]
        except Conflict as exc:
            return JSONResponse({"detail": str(exc), "current": exc.current}, 409)
        except StoreError as exc:
            status = 404 if str(exc).startswith("no application") else 400
            raise StarletteHTTPException(status, str(exc)) from None
        return decision.to_dict()
