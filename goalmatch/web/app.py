"""The review app: FastAPI with server-rendered Swedish pages (Jinja2, no JavaScript).

``create_app(matcher=..., database_url=..., secret=...)`` builds it; the model is
loaded once, by the caller. Pages: sign-in, new application (paste or upload), one
application with its suggestions, evidence and decision forms, the queue, the dashboard
and the export; the JSON API is in :mod:`goalmatch.web.api`.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from goalmatch.web import require_web

require_web()

from fastapi import Depends, FastAPI, Query, Request, Response  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.encoders import jsonable_encoder  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from fastapi.templating import Jinja2Templates  # noqa: E402
from markupsafe import Markup  # noqa: E402
from sqlalchemy import exc as sa_exc  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import review as rv  # noqa: E402
from goalmatch.web.api import MAX_ID, api_router, swagger_ui_assets  # noqa: E402
from goalmatch.web.auth import PUBLIC_PATHS, Auth, CSRFError, NeedLogin, Session, TooManyAttempts, client_of  # noqa: E402
from goalmatch.web.charts import agreement_bars  # noqa: E402
from goalmatch.web.services import MAX_UPLOAD_BYTES, Review, UploadError, read_upload  # noqa: E402
from goalmatch.web.store import Conflict, LoginLimits, Store, StoreError, default_database_url  # noqa: E402

__all__ = ["create_app"]

AppId = Annotated[int, PathParam(ge=1, le=MAX_ID)]  # ids are 32-bit integers in PostgreSQL
QUEUE_PAGE = 50  # applications per queue page

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATUS_TEXT = {400: "Felaktig begäran", 403: "Förbjudet", 404: "Sidan finns inte", 405: "Metoden stöds inte",
               409: "Konflikt", 413: "För stor", 422: "Ogiltiga uppgifter"}
DATABASE_DOWN = ("Databasen gick inte att nå, så begäran kunde inte slutföras. Ladda om sidan om en stund och "
                 "kontrollera vad som sparades innan du försöker igen (ett beslut sparas helt eller inte alls). "
                 "/ The database could not be reached; reload in a moment and check what was saved before retrying.")
UNSTORABLE = ("Uppgifterna innehåller tecken som inte kan sparas (t.ex. NUL, U+0000); inget sparades. / "
              "The input holds characters the database cannot store (such as NUL, U+0000); nothing was saved.")
DISK_FULL = ("Servern har slut på diskutrymme, så begäran kunde inte slutföras; inget halvfärdigt sparades. "
             "Kontakta förvaltaren. / The server is out of disk space; nothing half-done was saved.")


def create_app(
    *, matcher: Any, database_url: str | None = None, secret: str | None = None, token: str | None = None,
    session_max_age: int = 8 * 3600, secure_cookies: bool = False, login_limits: LoginLimits | None = None,
) -> FastAPI:
    """The review app over a loaded matcher and a database (SQLite file by default).

    ``secret`` signs the session cookies (a random one when not given: sessions end with
    the process); ``token`` is an optional shared bearer token, also accepted as the
    password at sign-in, for a one-person setup. ``login_limits`` throttles guessing
    (by default 5 failures per username and 30 in all from one client address in 15 minutes).
    """
    store = Store(database_url or default_database_url())
    auth = Auth(store, secret or secrets.token_urlsafe(32), max_age=session_max_age, token=token,
                secure_cookies=secure_cookies, limits=login_limits)
    service = Review(matcher, store)

    async def guard(request: Request) -> None:
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES + 64 * 1024:
            raise StarletteHTTPException(413, "Begäran är för stor.")
        session = await run_in_threadpool(auth.read, request)  # a database read: not on the event loop
        request.state.session = session
        if request.url.path not in PUBLIC_PATHS and not session.user:
            raise NeedLogin("not signed in")
        await auth.check_csrf(request, session)

    app = FastAPI(title="goalmatch granskning", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(guard)])
    app.state.review = service
    app.state.auth = auth
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    swagger_assets = swagger_ui_assets()
    if swagger_assets is not None:  # mounted before /static, which would shadow it
        app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_assets)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        base = {"user": session.user if session else None, "csrf": session.csrf if session else "",
                "frameworks": service.frameworks}
        response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
        response.headers.update(HEADERS)
        if session is not None and session.via == "new":  # hand out the CSRF token the form carries
            auth.write(response, session.csrf)
        return response

    # ---------------------------------------------------------------- errors

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/") or request.url.path.endswith(".jsonl")

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "inloggning krävs"}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", 303)

    @app.exception_handler(TooManyAttempts)
    async def too_many(request: Request, exc: TooManyAttempts) -> Response:
        log.warning("throttled sign-in from %s on %s %s (%d s to wait)", client_of(request), request.method,
                    request.url.path, exc.retry_after)
        headers = {"Retry-After": str(exc.retry_after)}
        minutes = max(1, math.ceil(exc.retry_after / 60))
        message = (f"För många misslyckade inloggningar från din adress. Försök igen om {minutes} "
                   f"{'minut' if minutes == 1 else 'minuter'}.")
        if is_api(request):
            return JSONResponse({"detail": message}, 429, headers=headers)
        target = _safe_next(request.query_params.get("next", "/"))
        response = page(request, "login.html", {"next": target, "error": message}, 429)
        response.headers.update(headers)
        return response

    @app.exception_handler(CSRFError)
    async def csrf_failed(request: Request, exc: CSRFError) -> Response:
        log.warning("refused %s %s: %s", request.method, request.url.path, exc)
        if is_api(request):
            return JSONResponse({"detail": "CSRF-token saknas eller är fel"}, 403)
        return page(request, "error.html", {"title": "Förbjudet", "message":
                    "Formuläret saknade en giltig säkerhetstoken. Ladda om sidan och försök igen."}, 403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else "Något gick fel."
        if is_api(request):
            return JSONResponse({"detail": message}, exc.status_code)
        return page(request, "error.html", {"title": STATUS_TEXT.get(exc.status_code, "Fel"), "message": message},
                    exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)
        return page(request, "error.html", {"title": STATUS_TEXT[422], "message":
                    "Sidan fick uppgifter den inte förstår (t.ex. ett nummer som inte är ett nummer)."}, 422)

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.DisconnectionError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def database_down(request: Request, exc: Exception) -> Response:
        """Connection lost, server gone, pool exhausted, disk full under SQLite: 503, the transaction rolled back.

        The next request gets a fresh connection (``pool_pre_ping``; a dropped connection
        invalidates the pool), so the app recovers on its own once the database is back.
        """
        log.error("database unavailable on %s %s: %s", request.method, request.url.path,
                  str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        headers = {"Retry-After": "5"}
        if is_api(request):
            return JSONResponse({"detail": DATABASE_DOWN}, 503, headers=headers)
        response = page(request, "error.html", {"title": "Databasen svarar inte", "message": DATABASE_DOWN}, 503)
        response.headers.update(headers)
        return response

    @app.exception_handler(sa_exc.DataError)
    async def unstorable(request: Request, exc: Exception) -> Response:
        """A value the database refuses (a NUL character in a form field): 422, nothing stored."""
        log.info("unstorable input on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0][:200])
        if is_api(request):
            return JSONResponse({"detail": UNSTORABLE}, 422)
        return page(request, "error.html", {"title": STATUS_TEXT[422], "message": UNSTORABLE}, 422)

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> Response:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return await internal_error(request, exc)
        log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
        if is_api(request):
            return JSONResponse({"detail": DISK_FULL}, 507)
        return page(request, "error.html", {"title": "Slut på diskutrymme", "message": DISK_FULL}, 507)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        if is_api(request):
            return JSONResponse({"detail": "internt fel"}, 500)
        return page(request, "error.html", {"title": "Internt fel", "message":
                    "Något gick fel hos oss. Felet är loggat; försök igen eller kontakta förvaltaren."}, 500)

    # ---------------------------------------------------------------- sign-in

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        return page(request, "login.html", {"next": _safe_next(next), "error": None})

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "/")))
        if not await run_in_threadpool(auth.check_login, username, password, client_of(request)):
            log.info("failed sign-in for %r from %s", username[:80], client_of(request))
            return page(request, "login.html", {"next": target, "error": "Fel användarnamn eller lösenord."}, 401)
        response = RedirectResponse(target, 303)
        await run_in_threadpool(auth.sign_in, response, username.strip())
        return response

    @app.post("/logout")
    def logout(request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        auth.sign_out(response, request.state.session)
        return response

    # ---------------------------------------------------------------- pages

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/queue", 303)

    @app.get("/new", response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        return page(request, "new.html", {"error": None, "text": "", "title": ""})

    @app.post("/applications")
    async def add_application(request: Request) -> Response:
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
            return page(request, "new.html", {"error": str(exc), "text": text, "title": title}, 400)
        finally:
            await form.close()  # uploaded files are spooled to temporary files
        return RedirectResponse(f"/applications/{application_id}", 303)

    def application_page(request: Request, application_id: int, *, conflict: str | None = None,
                         error: str | None = None, status_code: int = 200) -> Response:
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
        return page(request, "application.html", {
            "app": app_, "results": results, "segments": rv.segments(app_["text"], spans),
            "states": service.store.review_states(application_id), "trail": service.store.decisions(application_id),
            "model_goals": {fw["framework_id"]: rv.model_goals(fw) for fw in results},
            "conflict": conflict, "error": error,
        }, status_code)

    @app.get("/applications/{application_id}", response_class=HTMLResponse)
    def show_application(request: Request, application_id: AppId) -> Response:
        return application_page(request, application_id)

    @app.post("/applications/{application_id}/decisions")
    async def decide(request: Request, application_id: AppId) -> Response:
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
            return application_page(request, application_id, conflict=str(exc), status_code=409)
        except StoreError as exc:
            return application_page(request, application_id, error=str(exc), status_code=400)
        return RedirectResponse(f"/applications/{application_id}#fw-{framework_id}", 303)

    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request, framework: str = "", goal: str = "", max_confidence: str = "",
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
        return page(request, "queue.html", {"rows": rows, "filters": filters, "query": query, "total": total,
                                            "page": page_number, "pages": pages,
                                            "first": (page_number - 1) * QUEUE_PAGE + 1 if rows else 0,
                                            "last": (page_number - 1) * QUEUE_PAGE + len(rows)})

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        table = rv.agreement(service.store.reviewed_entries(), {fid: fw.name for fid, fw in service.frameworks.items()})
        return page(request, "dashboard.html", {"table": table, "chart": Markup(agreement_bars(table))})

    @app.get("/export.jsonl")
    def export() -> Response:
        trail = service.store.decisions()
        records = rv.export_records(service.store.applications(ids={d.application_id for d in trail}), trail,
                                    model=str(service.matcher.info.get("name", "")))
        body = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
        return PlainTextResponse(body, media_type="application/x-ndjson; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="goalmatch-granskning.jsonl"'})

    for route in app.routes:  # the OpenAPI document (and /api/docs) describes the JSON API, not the pages
        if isinstance(route, APIRoute):
            route.include_in_schema = False
    app.include_router(api_router(service))
    return app


def _safe_next(target: str) -> str:
    """Only local paths: no ``//host`` or ``scheme:`` redirects after sign-in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
