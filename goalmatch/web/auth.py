"""Sign-in, sessions and CSRF for the review app.

A signed-in session is a row in the ``sessions`` table (:mod:`goalmatch.web.accounts`) and a
signed, timestamped cookie (itsdangerous) holding the row's random id and a CSRF token.
Both expire after ``max_age`` seconds; signing out, a new password, deactivating the user
or ``goalmatch revoke-sessions`` revoke the row, so a copied cookie stops working at once.
Before sign-in the cookie holds only a CSRF token (for the login form). Every request but
the login page and the static files must carry a live session or ``Authorization: Bearer
<token>`` with the app's shared token. Every state-changing request from a browser session must carry the
session's CSRF token: the form field ``csrf`` or the ``X-CSRF-Token`` header.

Guessing is throttled: failed sign-ins and wrong bearer tokens are counted in the
database per client address (:class:`~goalmatch.web.accounts.LoginLimits`); a client over
its limit gets :class:`TooManyAttempts` (429 with ``Retry-After``) *before* its password
is looked at, so a right guess while blocked tells it nothing. The check and the count
are one database transaction (an attempt counts as a failure until it succeeds), so
parallel guesses cannot all pass the check before any of them is counted.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from goalmatch.web.accounts import Accounts, LoginLimits

__all__ = ["COOKIE", "Auth", "CSRFError", "NeedLogin", "Session", "TooManyAttempts", "client_of"]

COOKIE = "goalmatch_session"
PUBLIC_PATHS = frozenset({"/login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_USER = "token"
BEARER = ""  # the username failures with a wrong bearer token are counted under


# The three below are the app's control flow, not errors for people: goalmatch.web.handlers turns them
# into a redirect to the login page (401 for the API), a 403 and a 429. They are deliberately not
# GoalmatchErrors, so no ``except GoalmatchError`` (the CLI's, a caller's) mistakes one for bad input.


class NeedLogin(Exception):
    """No live session or valid token: the login page for browsers, 401 for the API."""


class CSRFError(Exception):
    """A state-changing browser request without the session's CSRF token."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins from this client: it must wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after} s")
        self.retry_after = retry_after


def client_of(request: Request) -> str:
    """The client's address as the app sees it (the proxy's, unless the server trusts its headers)."""
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Session:
    user: str | None
    csrf: str
    via: str  # "cookie", "bearer" or "new"
    id: str | None = None  # the server-side session's id (signed-in cookie sessions only)


class Auth:
    """Reads and writes sessions; checks passwords (via the store's accounts) and the shared token."""

    def __init__(self, store: Accounts, secret: str, *, max_age: int = 8 * 3600, token: str | None = None,
                 secure_cookies: bool = False, limits: LoginLimits | None = None) -> None:
        if not secret or len(secret) < 16:
            raise ValueError("the session secret needs at least 16 characters")
        self.store = store
        self.max_age = max_age
        self.token = token or None
        self.secure_cookies = secure_cookies
        self.limits = limits or LoginLimits()
        self._signer = URLSafeTimedSerializer(secret, salt="goalmatch-web-session")

    def read(self, request: Request) -> Session:
        """The request's session; a fresh anonymous one when it has none (or it expired).

        Reads the database (the session row): call it from a worker thread in async code.
        """
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            client = client_of(request)
            if self.token and hmac.compare_digest(header[7:].strip().encode(), self.token.encode()):
                self._throttle(BEARER, client)  # a read: blocked clients get 429 for a right token too
                return Session(TOKEN_USER, "", "bearer")
            self._claim(BEARER, client)  # a wrong token: checked against the limit and counted at once
            raise NeedLogin("invalid bearer token")
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data: Any = self._signer.loads(raw, max_age=self.max_age)
            except (SignatureExpired, BadSignature):
                data = None
            if isinstance(data, dict) and isinstance(data.get("c"), str):
                session_id = data.get("s") if isinstance(data.get("s"), str) else None
                user = self.store.session_user(session_id, allow_inactive=(TOKEN_USER,)) if session_id else None
                return Session(user, data["c"], "cookie", session_id if user else None)
        return Session(None, secrets.token_urlsafe(24), "new")

    def check_login(self, username: str, password: str, client: str = "unknown") -> bool:
        """Whether the password (or the shared token) signs ``username`` in; counts a failure.

        Raises :class:`TooManyAttempts`, without checking the password, when ``client`` is
        over its limit. Reads and writes the database: call it from a worker thread.
        """
        username = username.strip()
        self._claim(username, client)  # counted as a failure before the password is looked at
        if self.token and username and hmac.compare_digest(password.encode(), self.token.encode()):
            ok = True
        else:
            ok = self.store.authenticate(username, password)
        if ok:  # forgets the attempt just counted, and this account's earlier failures from this client
            self.store.clear_login_failures(username, client)
        return ok

    def _throttle(self, username: str, client: str) -> None:
        wait = self.store.login_wait(username, client, self.limits)
        if wait:
            raise TooManyAttempts(wait)

    def _claim(self, username: str, client: str) -> None:
        """Check the limits and count this attempt in one database transaction (no race between them)."""
        wait = self.store.claim_login_attempt(username, client, self.limits)
        if wait:
            raise TooManyAttempts(wait)

    def write(self, response: Response, csrf: str) -> None:
        """Set the anonymous cookie that carries the login form's CSRF token."""
        self._set(response, {"c": csrf})

    def sign_in(self, response: Response, user: str) -> Session:
        """Open a server-side session for ``user`` and set its cookie (with a new CSRF token)."""
        session = Session(user, secrets.token_urlsafe(24), "cookie", self.store.open_session(user, self.max_age))
        self._set(response, {"s": session.id, "c": session.csrf})
        return session

    def sign_out(self, response: Response, session: Session) -> None:
        """Revoke the session in the database (a copied cookie dies too) and delete the cookie."""
        if session.id:
            self.store.close_session(session.id)
        response.delete_cookie(COOKIE, path="/")

    def _set(self, response: Response, payload: dict[str, Any]) -> None:
        response.set_cookie(COOKIE, self._signer.dumps(payload), max_age=self.max_age, httponly=True,
                            samesite="lax", secure=self.secure_cookies, path="/")

    @staticmethod
    async def check_csrf(request: Request, session: Session) -> None:
        """Refuse a state-changing cookie request without the session's token."""
        if request.method in SAFE_METHODS or session.via == "bearer":
            return
        sent = request.headers.get("x-csrf-token", "")
        if not sent and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf")
            sent = value if isinstance(value, str) else ""
        if session.via == "new" or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise CSRFError("missing or wrong CSRF token")
