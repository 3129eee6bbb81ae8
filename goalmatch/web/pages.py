"""The review app's pages: Swedish, server-rendered (Jinja2), no JavaScript.

Sign-in, new application (paste or upload), one application with its suggestions,
evidence and one decision form for all its frameworks, the queue, the dashboard, the
workspace (:mod:`goalmatch.web.workspaces`: which frameworks a user sees) and the export. ``router`` is an
:class:`~fastapi.APIRouter` that :func:`goalmatch.web.app.create_app` includes; a route
finds the app's :class:`~goalmatch.web.services.Review` and the request's session on the
request. :func:`render` is how every page, error pages included, is answered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from goalmatch.model.render import LANGUAGES_SV, PASSAGE_KINDS_SV, reason_sv
from goalmatch.web import require_web

require_web()

from fastapi import APIRouter, Depends, Query, Request, Response  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse  # noqa: E402
from fastapi.templating import Jinja2Templates  # noqa: E402
from markupsafe import Markup  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import review as rv  # noqa: E402
from goalmatch.web import workspaces as ws  # noqa: E402
from goalmatch.web.auth import Session, client_of  # noqa: E402
from goalmatch.web.charts import agreement_bars  # noqa: E402
from goalmatch.web.exports import collect, jsonl_records  # noqa: E402 (the same application twice: exported once)
from goalmatch.web.schema import MAX_ID  # noqa: E402
from goalmatch.web.services import MAX_UPLOAD_BYTES, Review, UploadError, read_upload  # noqa: E402
from goalmatch.web.store import Conflict, DecisionIn, StoreError  # noqa: E402

__all__ = ["HEADERS", "is_admin", "may_edit_workspace", "render", "router", "safe_next", "visible_frameworks"]

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
templates.env.filters["percent_sv"] = rv.percent_sv
templates.env.filters["time_sv"] = rv.time_sv
templates.env.globals.update(ACTIONS_SV=rv.ACTIONS_SV, PASSAGE_KINDS_SV=PASSAGE_KINDS_SV)


def _review(request: Request) -> Review:
    return request.app.state.review  # type: ignore[no-any-return]


Service = Annotated[Review, Depends(_review)]
AppId = Annotated[int, PathParam(ge=1, le=MAX_ID)]  # ids are 32-bit integers in PostgreSQL
router = APIRouter(include_in_schema=False)  # the OpenAPI document describes the JSON API, not the pages


def visible_frameworks(request: Request) -> list[str]:
    """The framework ids the signed-in user sees and decides on: the workspace's, else all the model's."""
    review = request.app.state.review
    session: Session | None = getattr(request.state, "session", None)
    workspace = ws.workspace_of(review.store, session.user) if session else None
    return ws.visible_frameworks(review.frameworks, workspace)


def is_admin(request: Request) -> bool:
    """Whether the request is an active administrator's (or carries the API's shared token)."""
    session = getattr(request.state, "session", None)
    if session is None or not session.user:
        return False
    return bool(session.via == "bearer" or request.app.state.review.store.is_admin(session.user))


def may_edit_workspace(request: Request) -> bool:
    """Whether this user may change the workspace's frameworks: an administrator.

    What an organisation decides on is the organisation's choice, not each reviewer's; the
    others see the workspace's frameworks read-only.
    """
    return is_admin(request)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The page ``templates/<name>`` with the user, the CSRF token, the frameworks and the security headers.

    ``frameworks`` is the model's id → framework, ``visible`` the ids the user sees (the
    workspace's, in its order) and ``goal_names`` framework id → goal id → Swedish name.
    """
    session: Session | None = getattr(request.state, "session", None)
    known = request.app.state.review.frameworks
    try:
        visible = visible_frameworks(request) if session else list(known)
    except SQLAlchemyError:  # an error page while the database is gone: it still renders
        visible = list(known)
    base = {"user": session.user if session else None, "csrf": session.csrf if session else "",
            "frameworks": known, "visible": visible,
            "goal_names": {fid: {g.id: g.name for g in fw.all_goals()} for fid, fw in known.items()}}
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
                     error: str | None = None, given: dict[str, dict[str, Any]] | None = None,
                     status_code: int = 200) -> Response:
    """One application: its text with the evidence highlighted, suggestions, one decision form and the trail.

    Only the frameworks of the user's workspace are shown; ``given`` is what the user chose
    in a form that was refused (framework id → action, goals, comment), shown again.
    """
    try:
        app_ = service.store.application(application_id)
    except StoreError:
        raise StarletteHTTPException(404, "Ansökan finns inte.") from None
    visible = visible_frameworks(request)
    stored = {fw.get("framework_id"): fw for fw in app_["suggestions"].get("frameworks", [])}
    results = [stored[fid] for fid in visible if fid in stored] + [
        fw for fid, fw in stored.items() if fid not in service.frameworks]  # imported ones the model lacks
    marked = rv.highlights(results)
    spans = [(start, end, h.badge) for h in marked for start, end in h.spans]
    flags = app_["suggestions"].get("flags") or {}
    language = str(flags.get("language") or "sv")
    return render(request, "application.html", {
        "app": app_, "results": results, "segments": rv.segments(app_["text"], spans),
        "legend": {h.badge: h for h in marked}, "flags": flags,
        "language": LANGUAGES_SV.get(language, language) if language not in ("sv", "und") else None,
        "similar": rv.clearly_closer(app_["suggestions"].get("similar_projects") or []),
        "closer": rv.clearly_closer, "given": given or {},
        "any_goal": {g.id: g.name for fw in service.frameworks.values() for g in fw.all_goals()},
        "states": service.store.review_states(application_id), "trail": service.store.decisions(application_id),
        "model_goals": {fw["framework_id"]: rv.model_goals(fw) for fw in results},
        "conflict": conflict, "error": error,
    }, status_code)


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def show_application(request: Request, service: Service, application_id: AppId) -> Response:
    return application_page(request, service, application_id)


@router.post("/applications/{application_id}/decisions")
async def decide(request: Request, service: Service, application_id: AppId) -> Response:
    """One framework's decision (the JSON API and older forms); the page saves all at once (:func:`decide_all`)."""
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


@router.post("/applications/{application_id}/beslut")
async def decide_all(request: Request, service: Service, application_id: AppId) -> Response:
    """The page's one "Spara": every framework with an action chosen, in one transaction, or none.

    Fields per framework id ``F``: ``action-F`` (empty: no decision now), ``goal_ids-F``,
    ``comment-F`` and ``version-F``. A refused form is shown again with what was chosen.
    """
    form = await request.form()
    given: dict[str, dict[str, Any]] = {}
    items = []
    for fid in visible_frameworks(request):
        action = str(form.get(f"action-{fid}", "")).strip()
        goals = tuple(str(g) for g in form.getlist(f"goal_ids-{fid}"))
        comment = str(form.get(f"comment-{fid}", ""))
        given[fid] = {"action": action, "goal_ids": goals, "comment": comment}
        if not action:
            continue
        try:
            version = int(str(form.get(f"version-{fid}", "")))
        except ValueError:
            raise StarletteHTTPException(400, "Formuläret saknar versionsnummer.") from None
        items.append(DecisionIn(fid, action, goals, version, comment))
    try:
        await run_in_threadpool(service.decide_many, application_id, items, reviewer=request.state.session.user)
    except Conflict as exc:
        return application_page(request, service, application_id, conflict=str(exc), given=given, status_code=409)
    except StoreError as exc:
        return application_page(request, service, application_id, error=str(exc), given=given, status_code=400)
    return RedirectResponse(f"/applications/{application_id}#beslut", 303)


# ------------------------------------------------------------------ the queue, the dashboard, the export


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, service: Service, framework: str = "", goal: str = "", max_confidence: str = "",
          reviewed: str = "", disagreement: str = "", order: str = "least_sure",
          page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_ID)] = 1) -> Response:
    """The queue: one confidence column per framework of the workspace (or only the chosen one).

    A "Säkerhet högst" that is not a number between 0 and 1 (or 0–100 %), or a framework
    outside the workspace, is named in a Swedish error on the page and left out of the filter.
    """
    visible = visible_frameworks(request)
    errors = []
    try:
        ceiling = rv.parse_confidence(max_confidence)
    except ValueError as exc:
        errors.append(str(exc))
        ceiling = None
    if framework and framework not in visible:
        errors.append("Ramverket finns inte bland arbetsytans ramverk; alla arbetsytans ramverk visas.")
        framework = ""
    rows, total = service.store.queue(
        framework=framework, goal=goal, max_confidence=ceiling, reviewed=reviewed,
        disagreement=bool(disagreement), order=order, limit=QUEUE_PAGE, offset=(page_number - 1) * QUEUE_PAGE,
        frameworks=visible)
    filters = {"framework": framework, "goal": goal, "max_confidence": max_confidence, "reviewed": reviewed,
               "disagreement": disagreement, "order": order}
    query = urlencode({k: v for k, v in filters.items() if v})
    pages = max(1, -(-total // QUEUE_PAGE))
    return render(request, "queue.html", {"rows": rows, "filters": filters, "query": query, "total": total,
                                          "columns": [framework] if framework else visible, "errors": errors,
                                          "page": page_number, "pages": pages,
                                          "first": (page_number - 1) * QUEUE_PAGE + 1 if rows else 0,
                                          "last": (page_number - 1) * QUEUE_PAGE + len(rows)},
                  400 if errors else 200)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, service: Service) -> Response:
    visible = visible_frameworks(request)
    entries = [e for e in service.store.reviewed_entries() if e["framework_id"] in visible]
    table = rv.agreement(entries, {fid: fw.name for fid, fw in service.frameworks.items()})
    return render(request, "dashboard.html", {"table": table, "chart": Markup(agreement_bars(table))})


# ------------------------------------------------------------------ the workspace


@router.get("/arbetsyta", response_class=HTMLResponse)
def workspace_page(request: Request, service: Service) -> Response:
    return _workspace_page(request, service, saved=request.query_params.get("sparat") == "1")


def _workspace_page(request: Request, service: Review, *, error: str | None = None, saved: bool = False,
                    chosen: list[str] | None = None, name: str = "", status_code: int = 200) -> Response:
    workspace = ws.workspace_of(service.store, request.state.session.user)
    if chosen is None:
        chosen = ws.visible_frameworks(service.frameworks, workspace) if workspace else []
    return render(request, "workspace.html", {
        "workspace": workspace, "chosen": chosen, "error": error, "saved": saved, "name": name,
        "editable": may_edit_workspace(request)}, status_code)


@router.post("/arbetsyta")
async def save_workspace(request: Request, service: Service) -> Response:
    """Change the workspace's frameworks; a user without one creates one here and joins it."""
    if not may_edit_workspace(request):
        raise StarletteHTTPException(403, "Du får inte ändra arbetsytan.")
    form = await request.form()
    chosen = [str(f) for f in form.getlist("frameworks")]
    name = str(form.get("name", ""))
    user = request.state.session.user
    workspace = ws.workspace_of(service.store, user)
    try:
        if workspace is not None:
            await run_in_threadpool(ws.set_frameworks, service.store, workspace.id, chosen, service.frameworks)
        else:
            created = await run_in_threadpool(ws.create, service.store, name, chosen, service.frameworks)
            await run_in_threadpool(ws.assign, service.store, user, created.name)
    except StoreError as exc:
        return _workspace_page(request, service, error=f"Arbetsytan sparades inte: {exc}.", chosen=chosen,
                               name=name, status_code=400)
    return RedirectResponse("/arbetsyta?sparat=1", 303)


@router.get("/export.jsonl")
def export(service: Service) -> Response:
    records = jsonl_records(collect(service.store), model=service.model_name)
    body = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
    return PlainTextResponse(body, media_type="application/x-ndjson; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="goalmatch-granskning.jsonl"'})
