"""The JSON API of the review app (FastAPI's OpenAPI at ``/api/openapi.json``, UI at ``/api/docs``).

Every route needs a session cookie (and, for writes, its ``X-CSRF-Token``) or
``Authorization: Bearer <token>``; the app's guard checks both before a route runs.

``/api/docs`` never loads anything from a CDN: it serves Swagger UI's files from the
``fastapi-offline`` package when that is installed (mounted at ``/static/swagger-ui``;
only its static folder is used, not its FastAPI subclass), and otherwise a plain page
that links to the OpenAPI document.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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


class SuggestIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the project description")
    top_k: int = Field(3, ge=1, le=50, description="goals per framework")
    frameworks: list[str] | None = Field(None, description="framework ids (default: all of the model's)")


class BatchIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    top_k: int = Field(3, ge=1, le=50)
    frameworks: list[str] | None = None


class ApplicationIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    title: str = ""
    source: str = "api"
    suggestions: dict[str, Any] | None = Field(
        None, description="stored suggestions (Suggestions.to_dict(), e.g. from batch scoring); computed if absent")


class DecisionIn(BaseModel):
    framework_id: str
    action: str = Field(description=" / ".join(ACTIONS))
    goal_ids: list[str] = Field(default_factory=list, description="the reviewer's goals (for 'correct')")
    comment: str = ""
    version: int = Field(ge=0, description="the review version the decision was made against (0: none yet)")


def api_router(service: Review) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

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
    def suggest(body: SuggestIn) -> dict[str, Any]:
        """Suggestions for one text, as ``goalmatch suggest --json`` gives them."""
        try:
            return service.suggest(body.text, body.top_k, body.frameworks)
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.post("/suggest/batch")
    def suggest_batch(body: BatchIn) -> dict[str, Any]:
        """Suggestions for up to 100 texts, in order."""
        try:
            return {"results": [service.suggest(t, body.top_k, body.frameworks) for t in body.texts]}
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.get("/applications")
    def applications() -> list[dict[str, Any]]:
        """Every application (without its text and suggestions) with its review states."""
        return [{k: v for k, v in a.items() if k not in ("text", "suggestions")}
                for a in service.store.applications()]

    @router.post("/applications", status_code=201)
    def add_application(body: ApplicationIn, request: Request) -> dict[str, Any]:
        """Store an application; its suggestions are computed unless given."""
        try:
            return {"id": service.import_text(body.title, body.text, body.source, user(request), body.suggestions)}
        except (StoreError, ValueError) as exc:
            raise StarletteHTTPException(400, str(exc)) from None

    @router.get("/applications/{application_id}")
    def application(application_id: int) -> dict[str, Any]:
        try:
            app = service.store.application(application_id)
        except StoreError:
            raise StarletteHTTPException(404, f"ansökan {application_id} finns inte") from None
        app["reviews"] = service.store.review_states(application_id)
        return app

    @router.get("/applications/{application_id}/decisions")
    def decisions(application_id: int) -> list[dict[str, Any]]:
        """The audit trail of one application, oldest first."""
        return [d.to_dict() for d in service.store.decisions(application_id)]

    @router.post("/applications/{application_id}/decisions", status_code=201,
                 responses={409: {"description": "someone decided since `version`; read the state and retry"}})
    def decide(application_id: int, body: DecisionIn, request: Request) -> Any:
        try:
            decision = service.decide(application_id, body.framework_id, body.action, body.goal_ids,
                                      reviewer=user(request), version=body.version, comment=body.comment)
        except Conflict as exc:
            return JSONResponse({"detail": str(exc), "current": exc.current}, 409)
        except StoreError as exc:
            status = 404 if str(exc).startswith("no application") else 400
            raise StarletteHTTPException(status, str(exc)) from None
        return decision.to_dict()

    return router
