"""The review app's pages: Swedish, server-rendered (Jinja2), no JavaScript.

Sign-in, new application (paste or upload), one application with its suggestions,
evidence and decision forms, the queue, the dashboard and the export. ``router`` is an
:class:`~fastapi.APIRouter` that :func:`goalmatch.web.app.create_app` includes; a route
finds the app's :class:`~goalmatch.web.services.Review` and the request's session on the
request. :func:`render` is how every page, error pages included, is answered.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from goalmatch.model.render import reason_sv
from goalmatch.web import require_web

require_web()

from fastapi import APIRouter, Depends, Query, Request, Response  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse  # noqa: E402
from fastapi.templating import Jinja2Templates  # noqa: E402
from markupsafe import Markup  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import review as rv  # noqa: E402
from goalmatch.web.auth import Session, client_of  # noqa: E402
from goalmatch.web.charts import agreement_bars  # noqa: E402
from goalmatch.web.exports import collect, jsonl_records  # noqa: E402 (the same application twice: exported once)
from goalmatch.web.schema import MAX_ID  # noqa: E402
from goalmatch.web.services import MAX_UPLOAD_BYTES, Review, UploadError, read_upload  # noqa: E402
from goalmatch.web.store import Conflict, StoreError  # noqa: E402

__all__ = ["HEADERS", "render", "router", "safe_next"]

log = logging.getLogger(__name__)

QUEUE_PAGE = 50  # applications per queue page
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["reason_sv"] = reason_sv  # the one Swedish wording of why nothing fits (model/render.py)


def _review(request: Request) -> Review:
    return request.app.state.review  # type: ignore[no-any-return]


Service = Annotated[Review, Depends(_review)]
AppId = Annotated[int, PathParam(ge=1, le=MAX_ID)]  # ids are 32-bit integers in PostgreSQL
router = APIRouter(include_in_schema=False)  # the OpenAPI document describes the JSON API, not the pages


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The page ``templates/<name>`` with the user, the CSRF token, the frameworks and the security headers."""
    session: Session | None = getattr(request.state, "session", None)
    base = {"user": session.user if session else None, "csrf": session.csrf if session else "",
            "frameworks": request.app.state.review.frameworks}
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    response.headers.update(HEADERS)
    if session is not None and session.via == "new":  # hand out the CSRF token the form carries
        request.app.state.auth.write(response, session.csrf)
    return response


def safe_next(target: str) -> str:
    """Only local paths: no ``//host`` or ``scheme:`` redirects after sign-in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ------------------------------------------------------------------ sign-in


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    auth = request.app.state.auth
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    if not await run_in_threadpool(auth.check_login, username, password, client_of(request)):
        log.info("failed sign-in for %r from %s", username[:80], client_of(request))
        return render(request, "login.html", {"next": target, "error": "Fel användarnamn eller lösenord."}, 401)
    response = RedirectResponse(target, 303)
    await run_in_threadpool(auth.sign_in, response, username.strip())
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", 303)
    request.app.state.auth.sign_out(response, request.state.session)
    return response


# ------------------------------------------------------------------ applications


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", 303)


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request) -> Response:
    return render(request, "new.html", {"error": None, "text": "", "title": ""})


@router.post("/applications")
async def add_application(request: Request, service: Service) -> Response:
    form = await request.form()
    title, text = str(form.get("title", "")), str(form.get("text", ""))
    upload = form.get("file")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            text = await run_in_threadpool(read_upload, upload.filename, data)  # PDF parsing takes a while
            title = title or Path(upload.filename).stem
        source = str(form.get("source", "")).strip() or "web"
        if "\x00" in text or "\x00" in title:
            raise UploadError("Texten eller rubriken innehåller ett NUL-tecken (U+0000), som inte kan sparas; "
                              "ta bort det (det kommer ofta från en trasig kopiering eller fil).")
        application_id = await run_in_threadpool(
            service.import_text, title, text, source, request.state.session.user)
    except (UploadError, StoreError) as exc:
        return render(request, "new.html", {"error": str(exc), "text": text, "title": title}, 400)
    finally:
        await form.close()  # uploaded files are spooled to temporary files
    return RedirectResponse(f"/applications/{application_id}", 303)


def application_page(request: Request, service: Review, application_id: int, *, conflict: str | None = None,
                     error: str | None = None, status_code: int = 200) -> Response:
    """One application: its text with the evidence highlighted, suggestions, decision forms and trail."""
    try:
        app_ = service.store.application(application_id)
    except StoreError:
        raise StarletteHTTPException(404, "Ansökan finns inte.") from None
    results = app_["suggestions"].get("frameworks", [])
    spans = []
    for fw in results:
        chosen = [s for s in fw.get("suggestions", []) if s.get("confident")] or fw.get("suggestions", [])[:1]
        for s in chosen:
            for sentence in (s.get("evidence") or {}).get("sentences", [])[:1]:
                spans.append((sentence["start"], sentence["end"], f"{fw['name']}: {s['name']}"))
    return render(request, "application.html", {
        "app": app_, "results": results, "segments": rv.segments(app_["text"], spans),
        "states": service.store.review_states(application_id), "trail": service.store.decisions(application_id),
        "model_goals": {fw["framework_id"]: rv.model_goals(fw) for fw in results},
        "conflict": conflict, "error": error,
    }, status_code)


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def show_application(request: Request, service: Service, application_id: AppId) -> Response:
    return application_page(request, service, application_id)


@router.post("/applications/{application_id}/decisions")
async def decide(request: Request, service: Service, application_id: AppId) -> Response:
    form = await request.form()
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        raise StarletteHTTPException(400, "Formuläret saknar versionsnummer.") from None
    framework_id = str(form.get("framework_id", ""))
    try:
        await run_in_threadpool(
            service.decide, application_id, framework_id, str(form.get("action", "")),
            [str(g) for g in form.getlist("goal_ids")], reviewer=request.state.session.user,
            version=version, comment=str(form.get("comment", "")))
    except Conflict as exc:
        return application_page(request, service, application_id, conflict=str(exc), status_code=409)
    except StoreError as exc:
        return application_page(request, service, application_id, error=str(exc), status_code=400)
    return RedirectResponse(f"/applications/{application_id}#fw-{framework_id}", 303)


# ------------------------------------------------------------------ the queue, the dashboard, the export


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, service: Service, framework: str = "", goal: str = "", max_confidence: str = "",
          reviewed: str = "", disagreement: str = "", order: str = "least_sure",
          page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_ID)] = 1) -> Response:
    try:
        ceiling = float(max_confidence) if max_confidence.strip() else None
    except ValueError:
        ceiling = None
    if ceiling is not None and not math.isfinite(ceiling):
        ceiling = None
    rows, total = service.store.queue(
        framework=framework, goal=goal, max_confidence=ceiling, reviewed=reviewed,
        disagreement=bool(disagreement), order=order, limit=QUEUE_PAGE, offset=(page_number - 1) * QUEUE_PAGE)
    filters = {"framework": framework, "goal": goal, "max_confidence": max_confidence, "reviewed": reviewed,
               "disagreement": disagreement, "order": order}
    query = urlencode({k: v for k, v in filters.items() if v})
    pages = max(1, -(-total // QUEUE_PAGE))
    return render(request, "queue.html", {"rows": rows, "filters": filters, "query": query, "total": total,
                                          "page": page_number, "pages": pages,
                                          "first": (page_number - 1) * QUEUE_PAGE + 1 if rows else 0,
                                          "last": (page_number - 1) * QUEUE_PAGE + len(rows)})


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, service: Service) -> Response:
    table = rv.agreement(service.store.reviewed_entries(), {fid: fw.name for fid, fw in service.frameworks.items()})
    return render(request, "dashboard.html", {"table": table, "chart": Markup(agreement_bars(table))})


@router.get("/export.jsonl")
def export(service: Service) -> Response:
    records = jsonl_records(collect(service.store), model=str(service.matcher.info.get("name", "")))
    body = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
    return PlainTextResponse(body, media_type="application/x-ndjson; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="goalmatch-granskning.jsonl"'})
