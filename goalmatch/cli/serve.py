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

__all__ = ["add_database_argument", "add_parsers", "create_user", "revoke_sessions", "run_admin", "run_revoke",
           "run_serve", "run_user", "serve_app", "set_admin"]

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


def add_database_argument(p: argparse.ArgumentParser) -> None:
    """The ``--database`` option every review-app command shares (``serve``, the user commands, ``workspace``)."""
    p.add_argument("--database", default=None, metavar="URL", help="SQLAlchemy-URL: sqlite:///FIL eller "
                   f"postgresql+psycopg://… (standard $GOALMATCH_DATABASE_URL eller {DEFAULT_DATABASE})")


def _add_serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="starta granskningsappen för handläggare (kräver goalmatch[web])")
    p.add_argument("--host", default="127.0.0.1", metavar="ADRESS",
                   help="adressen att lyssna på (standard 127.0.0.1: bara den här datorn)")
    p.add_argument("--port", type=int, default=8000, metavar="PORT", help="port (standard 8000)")
    p.add_argument("--model", type=Path, metavar="MODELL", help="modellmapp (standard: den medföljande models/default)")
    add_database_argument(p)
    p.add_argument("--models-dir", type=Path, default=None, metavar="MAPP",
                   help="var modeller som tränas om i appen sparas (standard: bredvid en SQLite-databas, "
                        "<fil>-modeller; annars goalmatch-cachen)")
    p.add_argument("--train-data", type=Path, nargs="+", default=[], metavar="MAPP_ELLER_FIL",
                   help="JSONL-korpusar (eller mappar med sådana) som en omträning i appen lär sig av utöver "
                        "granskarnas beslut (standard: inga, bara besluten och ramverkens texter)")
    p.add_argument("--session-hours", type=float, default=8.0, metavar="TIMMAR",
                   help="hur länge en inloggning gäller, i timmar (standard 8)")
    p.add_argument("--secure-cookies", action="store_true", help="skicka sessionskakan bara över HTTPS")
    p.add_argument("--trusted-proxy", metavar="ADRESS", action="append", default=[],
                   help="en omvänd proxy vars X-Forwarded-For anger klienten (kan upprepas); utan den kommer "
                        "varje anrop bakom en proxy från proxyns adress, och spärren mot upprepade "
                        "inloggningsförsök, som räknar misslyckanden per klientadress, räknar då alla "
                        "granskare tillsammans")
    p.epilog = ("Hemligheter kommer från miljön: GOALMATCH_WEB_SECRET signerar sessionskakorna (slumpas vid "
                "varje start om den saknas, så att en omstart loggar ut alla); GOALMATCH_WEB_TOKEN, om den finns, "
                "är en delad nyckel (bearer token) och inloggningslösenord för en enpersonsinstallation.")
    p.set_defaults(run=run_serve)


def _add_user_parser(sub: Any) -> None:
    p = sub.add_parser("create-user", help="lägg till en granskare i granskningsappen, eller sätt ett nytt lösenord")
    p.add_argument("username", metavar="ANVÄNDARNAMN", help="granskarens inloggningsnamn (sparas med varje beslut)")
    add_database_argument(p)
    p.add_argument("--password-stdin", action="store_true", help="läs lösenordet från standard in")
    p.add_argument("--admin", action="store_true", help="gör granskaren till administratör (användare, modell)")
    p.set_defaults(run=run_user)


def _add_admin_parser(sub: Any) -> None:
    p = sub.add_parser("set-admin", help="gör en befintlig granskare till administratör (eller, med --remove, inte)")
    p.add_argument("username", metavar="ANVÄNDARNAMN", help="granskarens inloggningsnamn")
    p.add_argument("--remove", action="store_true", help="ta bort administratörsrollen i stället")
    add_database_argument(p)
    p.set_defaults(run=run_admin)


def _add_revoke_parser(sub: Any) -> None:
    p = sub.add_parser("revoke-sessions", help="logga genast ut en granskare (eller alla) ur granskningsappen")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("username", nargs="?", metavar="ANVÄNDARNAMN", help="granskaren vars sessioner avslutas")
    who.add_argument("--all", action="store_true", help="avsluta alla granskares sessioner")
    p.add_argument("--deactivate", action="store_true", help="hindra också granskaren från att logga in igen")
    add_database_argument(p)
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
        raise BadInput("lösenordet måste ha minst 8 tecken")
    store = Store(database_url)
    try:
        store.create_user(username, password)
        if admin:
            store.set_admin(username, True)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.engine.dispose()
    return f"sparade {'administratören' if admin else 'granskaren'} {username.strip()!r} i {_redact(database_url)}"


def set_admin(database_url: str, username: str, *, admin: bool = True) -> str:
    """Worker: give an existing reviewer the administrator role, or take it away."""
    _require()
    from goalmatch.web.store import Store

    store = Store(database_url)
    try:
        if not store.set_admin(username, admin):
            raise BadInput(f"ingen granskare {username!r} i {_redact(database_url)}; lägg till en med create-user")
    finally:
        store.engine.dispose()
    return f"{username.strip()!r} är {'nu' if admin else 'inte längre'} administratör"


def run_admin(args: argparse.Namespace) -> list[str]:
    """What ``goalmatch set-admin`` did."""
    return [set_admin(args.database or _database_default(), args.username, admin=not args.remove)]


def revoke_sessions(database_url: str, username: str | None, *, deactivate: bool = False) -> str:
    """Worker: revoke the live sessions of ``username`` (everyone's when ``None``), optionally deactivate."""
    _require()
    from goalmatch.web.store import Store

    if deactivate and username is None:
        raise BadInput("--deactivate behöver ett användarnamn")
    store = Store(database_url)
    try:
        count = store.revoke_sessions(username)
        if deactivate and not store.deactivate_user(username or ""):
            raise BadInput(f"ingen granskare {username!r} i {_redact(database_url)}")
    finally:
        store.engine.dispose()
    who = f"granskaren {username.strip()!r}" if username else "alla granskare"
    ended = f"avslutade {count} {'session' if count == 1 else 'sessioner'} för {who}"
    return ended + (" och stängde av kontot" if deactivate else "")


def run_revoke(args: argparse.Namespace) -> list[str]:
    """What ``goalmatch revoke-sessions`` did."""
    return [revoke_sessions(args.database or _database_default(), None if args.all else args.username,
                            deactivate=args.deactivate)]


def run_user(args: argparse.Namespace) -> list[str]:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"lösenord för {args.username}: ")
        if getpass.getpass("en gång till: ") != password:
            raise BadInput("lösenorden skiljer sig åt")
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
    return ["granskningsappen har stoppats"]


def _starting(started: float, message: str, *args: Any) -> None:
    """One line on standard error per step of ``serve``'s start (which takes a while), with the time so far."""
    log.warning("goalmatch serve [%4.1f s]: " + message, time.monotonic() - started, *args)


def _active_model(database_url: str) -> Path | None:
    """The model folder the database marks active (retrained in the app), if any and still there."""
    from goalmatch.web.retrain import active_folder
    from goalmatch.web.store import Store

    store = Store(database_url)
    try:
        folder = active_folder(store)
    finally:
        store.engine.dispose()
    if folder is not None:
        log.warning("serving the model retrained in the app: %s", folder)
    return folder


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
