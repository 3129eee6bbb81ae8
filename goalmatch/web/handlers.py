"""How the review app answers a request that fails: one handler per kind of failure.

The JSON API and the export get ``{"detail": …}``, a browser gets a Swedish page. Not
signed in: the login page (401 for the API); too many failed sign-ins: 429 with
``Retry-After``; no CSRF token: 403; the database gone: 503 with ``Retry-After`` (the
transaction rolled back); a value the database refuses: 422; the disk full: 507;
anything else: 500, logged, with no details for the client. (Not to be confused with
:mod:`goalmatch.errors`, the error classes; this module turns exceptions into responses.)
"""

from __future__ import annotations

import errno
import logging
import math
from typing import Any
from urllib.parse import quote

from goalmatch.web import require_web

require_web()

from fastapi import FastAPI, Request, Response  # noqa: E402
from fastapi.encoders import jsonable_encoder  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, RedirectResponse  # noqa: E402
from sqlalchemy import exc as sa_exc  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.text.prepare import replace_surrogates  # noqa: E402
from goalmatch.web.auth import CSRFError, NeedLogin, TooManyAttempts, client_of  # noqa: E402
from goalmatch.web.pages import HEADERS, render, safe_next  # noqa: E402

__all__ = ["install_handlers", "is_api", "json_safe"]

log = logging.getLogger(__name__)

STATUS_TEXT = {400: "Felaktig begäran", 403: "Förbjudet", 404: "Sidan finns inte", 405: "Metoden stöds inte",
               409: "Konflikt", 413: "För stor", 422: "Ogiltiga uppgifter"}
DATABASE_DOWN = ("Databasen gick inte att nå, så begäran kunde inte slutföras. Ladda om sidan om en stund och "
                 "kontrollera vad som sparades innan du försöker igen (ett beslut sparas helt eller inte alls). "
                 "/ The database could not be reached; reload in a moment and check what was saved before retrying.")
UNSTORABLE = ("Uppgifterna innehåller tecken som inte kan sparas (t.ex. NUL, U+0000); inget sparades. / "
              "The input holds characters the database cannot store (such as NUL, U+0000); nothing was saved.")
DISK_FULL = ("Servern har slut på diskutrymme, så begäran kunde inte slutföras; inget halvfärdigt sparades. "
             "Kontakta förvaltaren. / The server is out of disk space; nothing half-done was saved.")


def install_handlers(app: FastAPI) -> None:
    """Register every handler of this module on ``app`` (what ``@app.exception_handler`` does)."""
    app.exception_handler(NeedLogin)(need_login)
    app.exception_handler(TooManyAttempts)(too_many)
    app.exception_handler(CSRFError)(csrf_failed)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(RequestValidationError)(invalid)
    for kind in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.exception_handler(kind)(database_down)
    app.exception_handler(sa_exc.DataError)(unstorable)
    app.exception_handler(OSError)(os_error)
    app.exception_handler(Exception)(internal_error)


def is_api(request: Request) -> bool:
    """Whether the request wants JSON back (the API and the export), not a page."""
    return request.url.path.startswith("/api/") or request.url.path.endswith(".jsonl")


def answer(request: Request, status: int, title: str, message: str, *, detail: Any = None,
           headers: dict[str, str] | None = None) -> Response:
    """``{"detail": detail or message}`` for the API and the export; the error page with ``title`` for a browser."""
    if is_api(request):  # with the security headers: a 500 is sent from outside the app's middleware
        return JSONResponse({"detail": message if detail is None else detail}, status,
                            headers={**HEADERS, **(headers or {})})
    response = render(request, "error.html", {"title": title, "message": message}, status)
    response.headers.update(headers or {})
    return response


async def need_login(request: Request, exc: NeedLogin) -> Response:
    if is_api(request):
        return JSONResponse({"detail": "inloggning krävs"}, 401, headers={"WWW-Authenticate": "Bearer"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", 303)


async def too_many(request: Request, exc: TooManyAttempts) -> Response:
    log.warning("throttled sign-in from %s on %s %s (%d s to wait)", client_of(request), request.method,
                request.url.path, exc.retry_after)
    headers = {"Retry-After": str(exc.retry_after)}
    minutes = max(1, math.ceil(exc.retry_after / 60))
    message = (f"För många misslyckade inloggningar från din adress. Försök igen om {minutes} "
               f"{'minut' if minutes == 1 else 'minuter'}.")
    if is_api(request):
        return JSONResponse({"detail": message}, 429, headers=headers)
    target = safe_next(request.query_params.get("next", "/"))
    response = render(request, "login.html", {"next": target, "error": message}, 429)
    response.headers.update(headers)
    return response


async def csrf_failed(request: Request, exc: CSRFError) -> Response:
    log.warning("refused %s %s: %s", request.method, request.url.path, exc)
    return answer(request, 403, "Förbjudet", "Formuläret saknade en giltig säkerhetstoken. Ladda om sidan och "
                  "försök igen.", detail="CSRF-token saknas eller är fel")


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else "Något gick fel."
    return answer(request, exc.status_code, STATUS_TEXT.get(exc.status_code, "Fel"), message)


async def invalid(request: Request, exc: RequestValidationError) -> Response:
    return answer(request, 422, STATUS_TEXT[422], "Sidan fick uppgifter den inte förstår (t.ex. ett nummer som "
                  "inte är ett nummer).", detail=json_safe(jsonable_encoder(exc.errors())))


def json_safe(value: Any) -> Any:
    """NaN and infinities as strings, lone surrogates as U+FFFD, so a 422 that quotes a body's
    ``NaN`` or ``"\\udcff"`` back is not a 500 of its own (the response must encode as UTF-8).

    >>> json_safe([{"input": float("nan"), "loc": ["body", 1.5]}, "Fiber \\udcff"])
    [{'input': 'nan', 'loc': ['body', 1.5]}, 'Fiber \\ufffd']
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return replace_surrogates(value)[0]
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def database_down(request: Request, exc: Exception) -> Response:
    """Connection lost, server gone, pool exhausted, disk full under SQLite: 503, the transaction rolled back.

    The next request gets a fresh connection (``pool_pre_ping``; a dropped connection
    invalidates the pool), so the app recovers on its own once the database is back.
    """
    log.error("database unavailable on %s %s: %s", request.method, request.url.path,
              str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
    return answer(request, 503, "Databasen svarar inte", DATABASE_DOWN, headers={"Retry-After": "5"})


async def unstorable(request: Request, exc: Exception) -> Response:
    """A value the database refuses (a NUL character in a form field): 422, nothing stored."""
    log.info("unstorable input on %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0][:200])
    return answer(request, 422, STATUS_TEXT[422], UNSTORABLE)


async def os_error(request: Request, exc: OSError) -> Response:
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return await internal_error(request, exc)
    log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
    return answer(request, 507, "Slut på diskutrymme", DISK_FULL)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return answer(request, 500, "Internt fel", "Något gick fel hos oss. Felet är loggat; försök igen eller "
                  "kontakta förvaltaren.", detail="internt fel")
