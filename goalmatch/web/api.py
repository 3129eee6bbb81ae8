"""The JSON API of the review app (FastAPI's OpenAPI at ``/api/openapi.json``, UI at ``/api/docs``).

Every route needs a session cookie (and, for writes, its ``X-CSRF-Token``) or
``Authorization: Bearer <token>``; the app's guard checks both before a route runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from goalmatch.web.services import MAX_TEXT_CHARS, Review
from goalmatch.web.store import ACTIONS, Conflict, StoreError

__all__ = ["api_router"]

MAX_BATCH = 100


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

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="goalmatch API")

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
