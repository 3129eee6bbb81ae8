"""The administrators' pages and each reviewer's history: users, invitations, the model and its retraining.

``/admin/users`` lists the users, invites new ones (a one-time link shown once), deactivates
and reactivates them; ``/admin/model`` shows the model in use, retrains it on the reviewers'
decisions (:mod:`goalmatch.web.retrain`), switches to the new one and back. Admin pages
answer 403 with a Swedish page to everyone else. ``/history`` is a reviewer's own decisions,
``/admin/users/<name>/history`` anyone's (for administrators); ``/invite/<token>`` is where
an invited person chooses a password (no sign-in needed). Every write is a POST carrying
the form's CSRF token (checked by :func:`goalmatch.web.app.guard`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from goalmatch.errors import GoalmatchError
from goalmatch.model.render import decimal_sv, local_time_sv
from goalmatch.web import require_web

require_web()

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from goalmatch.web import review as rv  # noqa: E402
from goalmatch.web.pages import is_admin, render, templates  # noqa: E402
from goalmatch.web.retrain import Retrainer, load_active  # noqa: E402
from goalmatch.web.schema import MAX_ID  # noqa: E402
from goalmatch.web.services import Review  # noqa: E402
from goalmatch.web.store import Store, StoreError  # noqa: E402

__all__ = ["default_models_dir", "install", "router"]

log = logging.getLogger(__name__)

HISTORY_PAGE = 50
FORBIDDEN = "Den här sidan är bara för administratörer."
router = APIRouter(include_in_schema=False)


def default_models_dir(database_url: str) -> Path:
    """Beside a SQLite database file (``<file>-modeller``); else the user's goalmatch cache."""
    from goalmatch._paths import cache_root

    if database_url.startswith("sqlite:///") and database_url not in ("sqlite:///", "sqlite:///:memory:"):
        database = Path(database_url[len("sqlite:///"):])
        return database.with_name(database.stem + "-modeller")
    return cache_root() / "modeller"


def install(app: FastAPI, *, models_dir: Path, train_data: Sequence[Path] = (), prefer_active: bool = False) -> None:
    """Add these pages and the retrainer to ``app``; with ``prefer_active`` serve the database's active model."""
    review: Review = app.state.review
    if prefer_active:
        load_active(review)
    app.state.retrainer = Retrainer(review, models_dir, train_data)
    app.include_router(router)
    templates.env.globals["is_admin"] = is_admin  # base.html's "Användare" and "Modell" links


def _store(request: Request) -> Store:
    return request.app.state.review.store  # type: ignore[no-any-return]


def _admin(request: Request) -> str:
    """The signed-in administrator's name; 403 for anyone else (the shared token counts as one)."""
    if is_admin(request):
        return str(request.state.session.user)
    raise StarletteHTTPException(403, FORBIDDEN)


Admin = Annotated[str, Depends(_admin)]
Page = Annotated[int, Query(alias="page", ge=1, le=MAX_ID)]


# ------------------------------------------------------------------ users


def _users_page(request: Request, *, invite: dict[str, str] | None = None, error: str | None = None,
                status_code: int = 200) -> Response:
    rows = _store(request).users_overview()
    for row in rows:
        row["last"] = local_time_sv(row["last_decision"]) if row["last_decision"] else "–"
    return render(request, "admin_users.html", {"rows": rows, "invite": invite, "error": error,
                                                "me": request.state.session.user}, status_code)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, admin: Admin) -> Response:
    return _users_page(request)


@router.post("/admin/users/invite")
async def invite(request: Request, admin: Admin) -> Response:
    form = await request.form()
    username = str(form.get("username", "")).strip()
    try:
        token = await run_in_threadpool(_store(request).create_invitation, username, admin)
    except StoreError as exc:
        return _users_page(request, error=str(exc), status_code=400)
    log.info("%s invited %r", admin, username)
    link = str(request.base_url).rstrip("/") + f"/invite/{token}"
    return _users_page(request, invite={"username": username, "link": link})


@router.post("/admin/users/{username}/{change}")
def change_user(request: Request, admin: Admin, username: str, change: str) -> Response:
    store = _store(request)
    if change not in ("deactivate", "reactivate", "admin", "not-admin"):
        raise StarletteHTTPException(404, "Sidan finns inte.")
    if username == admin and change in ("deactivate", "not-admin"):
        return _users_page(request, error="Du kan inte inaktivera dig själv eller ta bort din egen "
                                          "administratörsroll.", status_code=400)
    done = {"deactivate": store.deactivate_user, "reactivate": store.reactivate_user,
            "admin": lambda name: store.set_admin(name, True),
            "not-admin": lambda name: store.set_admin(name, False)}[change](username)
    if not done:
        return _users_page(request, error=f"Det finns ingen användare som heter {username}.", status_code=404)
    log.warning("%s: %s %r", admin, change, username)
    return RedirectResponse("/admin/users", 303)


# ------------------------------------------------------------------ history


def _history(request: Request, username: str, page: int, own: bool) -> Response:
    review: Review = request.app.state.review
    rows, total = review.store.user_history(username, limit=HISTORY_PAGE, offset=(page - 1) * HISTORY_PAGE)
    for row in rows:
        fw = review.frameworks.get(row["framework_id"])
        row["when"] = local_time_sv(row["decided_at"])
        row["framework"] = fw.name if fw else row["framework_id"]
        row["action_sv"] = rv.ACTIONS_SV.get(row["action"], row["action"])
        row["goals"] = [(g, _goal_name(fw, g)) for g in row["goal_ids"]]
    return render(request, "history.html", {
        "who": username, "own": own, "rows": rows, "total": total, "page": page,
        "pages": max(1, -(-total // HISTORY_PAGE))})


def _goal_name(framework: Any, goal_id: str) -> str:
    try:
        return str(framework.goal(goal_id).name)
    except (AttributeError, KeyError, ValueError):
        return goal_id


@router.get("/history", response_class=HTMLResponse)
def own_history(request: Request, page: Page = 1) -> Response:
    return _history(request, str(request.state.session.user), page, True)


@router.get("/admin/users/{username}/history", response_class=HTMLResponse)
def user_history(request: Request, admin: Admin, username: str, page: Page = 1) -> Response:
    return _history(request, username, page, username == admin)


# ------------------------------------------------------------------ invitations (no sign-in needed)


@router.get("/invite/{token}", response_class=HTMLResponse)
def invitation_page(request: Request, token: str) -> Response:
    username = _store(request).invitation(token)
    return render(request, "invite.html", {"username": username, "token": token, "error": None},
                  200 if username else 410)


@router.post("/invite/{token}")
async def accept_invitation(request: Request, token: str) -> Response:
    form = await request.form()
    password, again = str(form.get("password", "")), str(form.get("again", ""))
    store = _store(request)
    username = await run_in_threadpool(store.invitation, token)
    try:
        if password != again:
            raise StoreError("Lösenorden är inte lika; skriv samma lösenord två gånger.")
        username = await run_in_threadpool(store.accept_invitation, token, password)
    except StoreError as exc:
        return render(request, "invite.html", {"username": username, "token": token, "error": str(exc)},
                      400 if username else 410)
    log.warning("%r accepted an invitation", username)
    response = RedirectResponse("/queue", 303)
    await run_in_threadpool(request.app.state.auth.sign_in, response, username)
    return response


# ------------------------------------------------------------------ the model


def _percent(hits: int, of: int) -> str:
    return f"{decimal_sv(100 * hits / of, 0)} % ({hits} av {of})" if of else "–"


def comparison(review: Review, figures: dict[str, Any]) -> list[dict[str, str]]:
    """Per framework the old and the new model's figures, as the page shows them."""
    old = (figures.get("old") or {}).get("frameworks", {})
    new = (figures.get("new") or {}).get("frameworks", {})
    rows = []
    for fid in sorted(set(old) | set(new)):
        fw = review.frameworks.get(fid)
        o, n = old.get(fid, {}), new.get(fid, {})
        rows.append({"framework": fw.name if fw else fid,
                     "old_same": _percent(o.get("same", 0), o.get("decided", 0)),
                     "new_same": _percent(n.get("same", 0), n.get("decided", 0)),
                     "old_top1": _percent(o.get("top1", 0), o.get("labelled", 0)),
                     "new_top1": _percent(n.get("top1", 0), n.get("labelled", 0))})
    return rows


def benchmark_rows(metrics: Any) -> list[dict[str, str]]:
    """The manifest's benchmark figures (``goalmatch train --metrics``) per task, over all training sizes."""
    tasks = metrics.get("tasks") if isinstance(metrics, dict) else None
    rows = []
    for task, sizes in (tasks or {}).items():
        every = sizes.get("all") if isinstance(sizes, dict) else None
        if not isinstance(every, dict):
            continue
        rows.append({"task": str(task), **{key: f"{decimal_sv(100 * float(every[key]), 0)} %"
                                           if isinstance(every.get(key), int | float) else "–"
                                           for key in ("accuracy", "top3", "answered")}})
    return rows


def _model_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    review: Review = request.app.state.review
    retrainer: Retrainer = request.app.state.retrainer
    status = retrainer.status
    versions = review.store.model_versions()
    for v in versions:
        v["when"] = local_time_sv(v["created_at"])
    latest = next((v for v in versions if v["id"] == status.version_id), None) or next(
        (v for v in versions if "old" in v["figures"]), None)  # after a restart: the newest trained here
    active = next((v for v in versions if v["active"]), None)
    info = review.matcher.info
    return render(request, "admin_model.html", {
        "name": review.model_name, "training": info.get("training_data") or {},
        "benchmark": benchmark_rows(info.get("metrics")), "measured": (info.get("metrics") or {}).get("measured"),
        "since": active["when"] if active else None, "status": status, "latest": latest, "versions": versions,
        "rows": comparison(review, latest["figures"]) if latest else [],
        "can_rollback": bool(active and active.get("previous_id")), "error": error,
        "started": local_time_sv(status.started_at) if status.started_at else None,
        "train_data": [p.name for p in retrainer.train_data]}, status_code)


@router.get("/admin/model", response_class=HTMLResponse)
def model_page(request: Request, admin: Admin) -> Response:
    return _model_page(request)


@router.post("/admin/model/{change}")
async def change_model(request: Request, admin: Admin, change: str) -> Response:
    retrainer: Retrainer = request.app.state.retrainer
    form = await request.form()
    try:
        if change == "retrain":
            if not retrainer.start(admin):
                return _model_page(request, "En träning pågår redan; vänta tills den är klar.", 409)
        elif change == "switch":
            version = str(form.get("version", ""))
            if not version.isdigit():
                raise StoreError("Formuläret saknar modellversionens nummer.")
            await run_in_threadpool(retrainer.switch, int(version), admin)
        elif change == "rollback":
            await run_in_threadpool(retrainer.rollback, admin)
        else:
            raise StarletteHTTPException(404, "Sidan finns inte.")
    except GoalmatchError as exc:  # a StoreError, or a model folder that cannot be loaded (ModelError)
        return _model_page(request, str(exc), 400)
    return RedirectResponse("/admin/model", 303)
