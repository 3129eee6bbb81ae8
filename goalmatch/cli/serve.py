"""``goalmatch serve``, ``create-user``, ``set-admin`` and ``revoke-sessions``: the review web app and its reviewers.

``revoke-sessions`` lets an administrator sign a reviewer (or everyone) out everywhere;
``create-user --admin`` and ``set-admin`` make administrators, who manage users and
retrain the model in the app.
Importing this module needs nothing beyond the standard library; the workers raise
:class:`goalmatch.errors.BadInput` naming the ``web`` extra when it is missing.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from goalmatch.cli.command import load_matcher
from goalmatch.errors import BadInput

__all__ = ["add_parsers", "create_user", "revoke_sessions", "run_admin", "run_revoke", "run_serve", "run_user",
           "serve_app", "set_admin"]

log = logging.getLogger(__name__)
DEFAULT_DATABASE = "sqlite:///goalmatch-review.sqlite3"


def _database_default() -> str:
    return os.environ.get("GOALMATCH_DATABASE_URL", DEFAULT_DATABASE)


def add_parsers(sub: Any) -> None:
    """Add ``serve``, ``create-user`` and ``revoke-sessions`` to a ``goalmatch`` subparsers object."""
    _add_serve_parser(sub)
    _add_user_parser(sub)
    _add_admin_parser(sub)
    _add_revoke_parser(sub)


def _add_serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the review web app for handläggare (needs goalmatch[web])")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped models/default)")
    p.add_argument("--database", default=None,
                   help="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://… "
                        f"(default $GOALMATCH_DATABASE_URL or {DEFAULT_DATABASE})")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="where models retrained in the app are saved (default: beside a SQLite database, "
                        "<file>-modeller; else the goalmatch cache)")
    p.add_argument("--train-data", type=Path, nargs="+", default=[], metavar="DIR_OR_FILE",
                   help="JSONL corpora (or folders) a retraining in the app learns from besides the reviewers' "
                        "decisions (default: none, the decisions and the frameworks' texts only)")
    p.add_argument("--session-hours", type=float, default=8.0, help="sign-in lifetime in hours (default 8)")
    p.add_argument("--secure-cookies", action="store_true", help="send the session cookie over HTTPS only")
    p.add_argument("--trusted-proxy", metavar="ADDRESS", action="append", default=[],
                   help="a reverse proxy whose X-Forwarded-For names the client (repeatable); without it every "
                        "request behind a proxy comes from the proxy's address, and sign-in throttling, which "
                        "counts failures per client address, would count all reviewers together")
    p.epilog = ("Secrets come from the environment: GOALMATCH_WEB_SECRET signs session cookies (random per start "
                "if unset, so restarts sign everyone out); GOALMATCH_WEB_TOKEN, if set, is a shared bearer token "
                "and sign-in password for a one-person setup.")
    p.set_defaults(run=run_serve)


def _add_user_parser(sub: Any) -> None:
    p = sub.add_parser("create-user", help="add a reviewer to the review app, or set a new password")
    p.add_argument("username", help="the reviewer's sign-in name (recorded with each decision)")
    p.add_argument("--database", default=None, help=f"SQLAlchemy URL (default $GOALMATCH_DATABASE_URL or "
                                                    f"{DEFAULT_DATABASE})")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--admin", action="store_true", help="make the reviewer an administrator (users, model)")
    p.set_defaults(run=run_user)


def _add_admin_parser(sub: Any) -> None:
    p = sub.add_parser("set-admin", help="make an existing reviewer an administrator (or, with --remove, not)")
    p.add_argument("username", help="the reviewer's sign-in name")
    p.add_argument("--remove", action="store_true", help="take the administrator role away instead")
    p.add_argument("--database", default=None, help=f"SQLAlchemy URL (default $GOALMATCH_DATABASE_URL or "
                                                    f"{DEFAULT_DATABASE})")
    p.set_defaults(run=run_admin)


def _add_revoke_parser(sub: Any) -> None:
    p = sub.add_parser("revoke-sessions", help="sign a reviewer (or everyone) out of the review app at once")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("username", nargs="?", help="the reviewer whose sessions end")
    who.add_argument("--all", action="store_true", help="end every reviewer's sessions")
    p.add_argument("--deactivate", action="store_true", help="also stop the reviewer from signing in again")
    p.add_argument("--database", default=None, help=f"SQLAlchemy URL (default $GOALMATCH_DATABASE_URL or "
                                                    f"{DEFAULT_DATABASE})")
    p.set_defaults(run=run_revoke)


def _require() -> None:
    from goalmatch.web import require_web

    try:
        require_web()
    except ImportError as exc:
        raise BadInput(str(exc)) from None


def create_user(database_url: str, username: str, password: str, *, admin: bool = False) -> str:
    """Worker: add or update a reviewer (an administrator with ``admin``); the password is stored only as a
    scrypt hash."""
    _require()
    from goalmatch.web.store import Store, StoreError

    if len(password) < 8:
        raise BadInput("the password needs at least 8 characters")
    store = Store(database_url)
    try:
        store.create_user(username, password)
        if admin:
            store.set_admin(username, True)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.engine.dispose()
    return f"saved {'administrator' if admin else 'reviewer'} {username.strip()!r} in {_redact(database_url)}"


def set_admin(database_url: str, username: str, *, admin: bool = True) -> str:
    """Worker: give an existing reviewer the administrator role, or take it away."""
    _require()
    from goalmatch.web.store import Store

    store = Store(database_url)
    try:
        if not store.set_admin(username, admin):
            raise BadInput(f"no reviewer {username!r} in {_redact(database_url)}; add one with create-user")
    finally:
        store.engine.dispose()
    return f"{username.strip()!r} is {'now' if admin else 'no longer'} an administrator"


def run_admin(args: argparse.Namespace) -> list[str]:
    """What ``goalmatch set-admin`` did."""
    return [set_admin(args.database or _database_default(), args.username, admin=not args.remove)]


def revoke_sessions(database_url: str, username: str | None, *, deactivate: bool = False) -> str:
    """Worker: revoke the live sessions of ``username`` (everyone's when ``None``), optionally deactivate."""
    _require()
    from goalmatch.web.store import Store

    if deactivate and username is None:
        raise BadInput("--deactivate needs a username")
    store = Store(database_url)
    try:
        count = store.revoke_sessions(username)
        if deactivate and not store.deactivate_user(username or ""):
            raise BadInput(f"no reviewer {username!r} in {_redact(database_url)}")
    finally:
        store.engine.dispose()
    who = f"reviewer {username.strip()!r}" if username else "all reviewers"
    return f"revoked {count} session(s) of {who}" + (" and deactivated the account" if deactivate else "")


def run_revoke(args: argparse.Namespace) -> list[str]:
    """What ``goalmatch revoke-sessions`` did."""
    return [revoke_sessions(args.database or _database_default(), None if args.all else args.username,
                            deactivate=args.deactivate)]


def run_user(args: argparse.Namespace) -> list[str]:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise BadInput("the passwords differ")
    return [create_user(args.database or _database_default(), args.username, password, admin=args.admin)]


def run_serve(args: argparse.Namespace) -> list[str]:
    """Load the model once, then serve until interrupted."""
    _require()
    from goalmatch.web.app import create_app

    database = args.database or _database_default()
    secret = os.environ.get("GOALMATCH_WEB_SECRET")
    if not secret:
        log.warning("GOALMATCH_WEB_SECRET is not set: a random one is used, restarts sign everyone out")
    started = time.monotonic()
    say = functools.partial(_starting, started)
    say("reading the database %s", _redact(database))
    model = args.model if args.model is not None else _active_model(database)
    say("loading the model %s", model or "models/default (shipped)")
    matcher = load_matcher(model)
    say("loading the encoder and the language tools (the first suggestion)")
    matcher.suggest("Projektet bygger bredband i byarna.")  # now, not on the first reviewer's request
    say("opening the review database (and upgrading its schema if needed)")
    app = create_app(matcher=matcher, database_url=database, secret=secret,
                     token=os.environ.get("GOALMATCH_WEB_TOKEN"), session_max_age=int(args.session_hours * 3600),
                     secure_cookies=args.secure_cookies, models_dir=args.models_dir, train_data=args.train_data,
                     prefer_active=args.model is None)
    log.warning("goalmatch review app on http://%s:%d (database %s), ready after %.1f s", args.host, args.port,
                _redact(database), time.monotonic() - started)
    serve_app(app, host=args.host, port=args.port, log_level="info", proxy_headers=bool(args.trusted_proxy),
              forwarded_allow_ips=",".join(args.trusted_proxy) or None)
    return ["stopped"]


def _starting(started: float, message: str, *args: Any) -> None:
    """One line on standard error per step of ``serve``'s start (which takes a while), with the time so far."""
    log.warning("goalmatch serve [%4.1f s]: " + message, time.monotonic() - started, *args)


def _active_model(database_url: str) -> Path | None:
    """The model folder the database marks active (retrained in the app), if any and still there."""
    from goalmatch.web.store import Store

    store = Store(database_url)
    try:
        active = store.active_model()
    finally:
        store.engine.dispose()
    if active is None:
        return None
    if not Path(active["path"]).is_dir():
        log.warning("the active model %s is missing (%s); serving the default model", active["name"], active["path"])
        return None
    log.warning("serving the model retrained in the app: %s", active["name"])
    return Path(active["path"])


def serve_app(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` in one process, saying in one line when a signal stops it.

    On SIGTERM or SIGINT the server logs ``goalmatch serve: stopping (SIGTERM) …`` as
    it begins to shut down; the exit status is uvicorn's (which raises the signal again
    once the open requests are finished).
    """
    import uvicorn

    class Server(uvicorn.Server):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit:
                log.warning("goalmatch serve: stopping (%s); finishing the requests under way",
                            signal.Signals(sig).name)
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, **options))
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - as uvicorn.run
        pass
    if not server.started:
        raise SystemExit(3)  # uvicorn's exit status when the server could not start


def _redact(url: str) -> str:
    """A database URL without its password, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url
