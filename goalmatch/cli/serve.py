"""The ``goalmatch serve`` and ``goalmatch create-user`` commands: parsers and workers.

Wiring in :mod:`goalmatch.cli.main`: ``add_serve_parser(sub)`` and ``add_user_parser(sub)``
in ``_parser``; in ``_run``, ``serve`` → ``run_serve(args)`` and ``create-user`` →
``run_user(args)``. ``add_user_parser`` also adds ``revoke-sessions`` (an administrator
signs a reviewer out everywhere), which carries its own handler (``main_revoke``).
Importing this module needs nothing beyond the standard library; the workers raise
``goalmatch.cli.main.BadInput`` naming the ``web`` extra when it is missing.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_serve_parser", "add_user_parser", "create_user", "main_revoke", "revoke_sessions", "run_serve",
           "run_user"]

log = logging.getLogger(__name__)
DEFAULT_DATABASE = "sqlite:///goalmatch-review.sqlite3"


def _database_default() -> str:
    return os.environ.get("GOALMATCH_DATABASE_URL", DEFAULT_DATABASE)


def add_serve_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="run the review web app for handläggare (needs goalmatch[web])")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped models/default)")
    p.add_argument("--database", default=None,
                   help="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://… "
                        f"(default $GOALMATCH_DATABASE_URL or {DEFAULT_DATABASE})")
    p.add_argument("--session-hours", type=float, default=8.0, help="sign-in lifetime in hours (default 8)")
    p.add_argument("--secure-cookies", action="store_true", help="send the session cookie over HTTPS only")
    p.add_argument("--trusted-proxy", metavar="ADDRESS", action="append", default=[],
                   help="a reverse proxy whose X-Forwarded-For names the client (repeatable); without it every "
                        "request behind a proxy comes from the proxy's address, and sign-in throttling, which "
                        "counts failures per client address, would count all reviewers together")
    p.epilog = ("Secrets come from the environment: GOALMATCH_WEB_SECRET signs session cookies (random per start "
                "if unset, so restarts sign everyone out); GOALMATCH_WEB_TOKEN, if set, is a shared bearer token "
                "and sign-in password for a one-person setup.")
    return p


def add_user_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("create-user", help="add a reviewer to the review app, or set a new password")
    p.add_argument("username", help="the reviewer's sign-in name (recorded with each decision)")
    p.add_argument("--database", default=None, help=f"SQLAlchemy URL (default $GOALMATCH_DATABASE_URL or "
                                                    f"{DEFAULT_DATABASE})")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_revoke_parser(sub)
    return p


def add_revoke_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("revoke-sessions", help="sign a reviewer (or everyone) out of the review app at once")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("username", nargs="?", help="the reviewer whose sessions end")
    who.add_argument("--all", action="store_true", help="end every reviewer's sessions")
    p.add_argument("--deactivate", action="store_true", help="also stop the reviewer from signing in again")
    p.add_argument("--database", default=None, help=f"SQLAlchemy URL (default $GOALMATCH_DATABASE_URL or "
                                                    f"{DEFAULT_DATABASE})")
    p.set_defaults(handler=main_revoke)
    return p


def _bad_input(message: str) -> Exception:
    from goalmatch.cli.main import BadInput

    return BadInput(message)


def _require() -> None:
    from goalmatch.web import require_web

    try:
        require_web()
    except ImportError as exc:
        raise _bad_input(str(exc)) from None


def create_user(database_url: str, username: str, password: str) -> str:
    """Worker: add or update a reviewer; the password is stored only as a scrypt hash."""
    _require()
    from goalmatch.web.store import Store, StoreError

    if len(password) < 8:
        raise _bad_input("the password needs at least 8 characters")
    try:
        Store(database_url).create_user(username, password)
    except StoreError as exc:
        raise _bad_input(str(exc)) from None
    return f"saved reviewer {username.strip()!r} in {_redact(database_url)}"


def revoke_sessions(database_url: str, username: str | None, *, deactivate: bool = False) -> str:
    """Worker: revoke the live sessions of ``username`` (everyone's when ``None``), optionally deactivate."""
    _require()
    from goalmatch.web.store import Store

    if deactivate and username is None:
        raise _bad_input("--deactivate needs a username")
    store = Store(database_url)
    try:
        count = store.revoke_sessions(username)
        if deactivate and not store.deactivate_user(username or ""):
            raise _bad_input(f"no reviewer {username!r} in {_redact(database_url)}")
    finally:
        store.engine.dispose()
    who = f"reviewer {username.strip()!r}" if username else "all reviewers"
    return f"revoked {count} session(s) of {who}" + (" and deactivated the account" if deactivate else "")


def main_revoke(args: argparse.Namespace) -> int:
    """``goalmatch revoke-sessions``: prints what it did; bad input raises ``BadInput`` (exit code 2)."""
    print(revoke_sessions(args.database or _database_default(), None if args.all else args.username,
                          deactivate=args.deactivate))
    return 0


def run_user(args: argparse.Namespace) -> list[str]:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise _bad_input("the passwords differ")
    return [create_user(args.database or _database_default(), args.username, password)]


def run_serve(args: argparse.Namespace) -> list[str]:
    """Load the model once, then serve until interrupted."""
    _require()
    import uvicorn

    import goalmatch
    from goalmatch.web.app import create_app

    database = args.database or _database_default()
    secret = os.environ.get("GOALMATCH_WEB_SECRET")
    if not secret:
        log.warning("GOALMATCH_WEB_SECRET is not set: a random one is used, restarts sign everyone out")
    matcher = goalmatch.load(args.model)
    matcher.suggest("Projektet bygger bredband i byarna.")  # load the encoder and language tools now, not on
    # the first reviewer's request
    app = create_app(matcher=matcher, database_url=database, secret=secret,
                     token=os.environ.get("GOALMATCH_WEB_TOKEN"), session_max_age=int(args.session_hours * 3600),
                     secure_cookies=args.secure_cookies)
    log.warning("goalmatch review app on http://%s:%d (database %s)", args.host, args.port, _redact(database))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=bool(args.trusted_proxy),
                forwarded_allow_ips=",".join(args.trusted_proxy) or None)
    return ["stopped"]


def _redact(url: str) -> str:
    """A database URL without its password, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url
