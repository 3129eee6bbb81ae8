"""The review app's factory: FastAPI wired from the pages, the JSON API, the handlers and the guard.

``create_app(matcher=..., database_url=..., secret=...)`` builds it; the model is
loaded once, by the caller. The pages are in :mod:`goalmatch.web.pages`, the JSON API in
:mod:`goalmatch.web.api`, the answers to failures in :mod:`goalmatch.web.handlers`;
:func:`guard` runs before every route.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goalmatch.web import require_web

require_web()

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import admin, backlog, pages  # noqa: E402
from goalmatch.web.api import api_router, swagger_ui_assets  # noqa: E402
from goalmatch.web.auth import PUBLIC_PATHS, Auth, NeedLogin  # noqa: E402
from goalmatch.web.handlers import install_handlers  # noqa: E402
from goalmatch.web.middleware import TOO_LARGE, BodyLimit, SecurityHeaders  # noqa: E402
from goalmatch.web.services import MAX_BODY_BYTES, Review  # noqa: E402
from goalmatch.web.store import LoginLimits, Store, default_database_url  # noqa: E402

__all__ = ["create_app", "guard"]

HERE = Path(__file__).parent


def create_app(
    *, matcher: Any, database_url: str | None = None, secret: str | None = None, token: str | None = None,
    session_max_age: int = 8 * 3600, secure_cookies: bool = False, login_limits: LoginLimits | None = None,
    models_dir: Path | None = None, train_data: Sequence[Path] = (), prefer_active: bool = False,
) -> FastAPI:
    """The review app over a loaded matcher and a database (SQLite file by default).

    ``secret`` signs the session cookies (a random one when not given: sessions end with
    the process); ``token`` is an optional shared bearer token, also accepted as the
    password at sign-in, for a one-person setup. ``login_limits`` throttles guessing
    (by default 5 failures per username and 30 in all from one client address in 15 minutes).
    ``models_dir``, ``train_data``, ``prefer_active``: retraining in the app (:func:`goalmatch.web.admin.install`).
    """
    store = Store(database_url or default_database_url())
    app = FastAPI(title="goalmatch granskning", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(guard)])
    app.state.review = Review(matcher, store)
    app.state.auth = Auth(store, secret or secrets.token_urlsafe(32), max_age=session_max_age, token=token,
                          secure_cookies=secure_cookies, limits=login_limits)
    swagger_assets = swagger_ui_assets()
    if swagger_assets is not None:  # mounted before /static, which would shadow it
        app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_assets)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders, headers=pages.HEADERS)  # outermost: on every answer, errors included
    app.include_router(pages.router)
    app.include_router(backlog.router)  # import, archive, delete, the XLSX/CSV exports
    admin.install(app, models_dir=models_dir or admin.default_models_dir(store.url), train_data=train_data,
                  prefer_active=prefer_active)
    app.include_router(api_router(app.state.review))
    return app


async def guard(request: Request) -> None:
    """Before every route: the size limit, the session (or bearer token), sign-in, the CSRF token of a write."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:  # a chunked body: BodyLimit
        raise StarletteHTTPException(413, TOO_LARGE)
    auth: Auth = request.app.state.auth
    session = await run_in_threadpool(auth.read, request)  # a database read: not on the event loop
    request.state.session = session
    public = request.url.path in PUBLIC_PATHS or request.url.path.startswith("/invite/")  # an invitation's link
    if not public and not session.user:
        raise NeedLogin("not signed in")
    await auth.check_csrf(request, session)
