"""The reviewers' side of the review database: accounts, sign-in sessions and sign-in throttling.

Passwords are stored only as scrypt hashes (:func:`hash_password`). A signed-in session
is a row in ``sessions`` named by the sha256 of the cookie's random id, so signing out,
a new password, deactivating the user or ``goalmatch revoke-sessions`` revoke it at once.
Failed sign-ins are rows in ``login_failures``, counted per client address within
:class:`LoginLimits` (see :class:`goalmatch.web.auth.Auth`).

:class:`Accounts` is a part of :class:`goalmatch.web.store.Store`, which mixes it in: one
database, one engine, one migration runner, and callers keep calling ``store.create_user``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

from goalmatch.errors import StoreError  # noqa: E402
from goalmatch.web.database import as_utc, utcnow  # noqa: E402
from goalmatch.web.schema import login_failures, sessions, users  # noqa: E402

__all__ = ["MIN_PASSWORD", "Accounts", "LoginLimits", "check_new_password", "hash_password", "verify_password"]


@dataclass(frozen=True)
class LoginLimits:
    """How many failed sign-ins a client gets within ``window`` seconds before it must wait."""

    per_account: int = 5  # for one username from one client
    per_client: int = 30  # for any usernames from one client
    window: int = 15 * 60

    def __post_init__(self) -> None:
        if min(self.per_account, self.per_client, self.window) < 1:
            raise ValueError("login limits must be positive")


# ------------------------------------------------------------------ passwords

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8  # characters; as ``goalmatch create-user`` asks


def check_new_password(password: str) -> None:
    """A new password's rules (those of ``goalmatch create-user``), as a Swedish :class:`StoreError`."""
    if len(password) < MIN_PASSWORD:
        raise StoreError(f"Lösenordet behöver minst {MIN_PASSWORD} tecken.")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64); never the password itself."""
    if not password:
        raise StoreError("a password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against :func:`hash_password`'s output."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=32,
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# the hash an unknown user's password is checked against: scrypt's cost, a random digest no password gives
_NO_USER_HASH = (f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
                 f"{base64.b64encode(secrets.token_bytes(16)).decode()}${base64.b64encode(secrets.token_bytes(32)).decode()}")


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class Accounts:
    """Users, sessions and failed sign-ins, over the ``engine`` of the store that mixes this in."""

    engine: Engine

    # -------------------------------------------------------------- users

    def create_user(self, username: str, password: str) -> None:
        """Add a reviewer, or set a new password for an existing one (which signs them out everywhere)."""
        username = username.strip()
        if not username or len(username) > 80:
            raise StoreError("a username needs 1 to 80 characters")
        hashed = hash_password(password)
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if existing:
                conn.execute(sa.update(users).where(users.c.id == existing.id).values(
                    password_hash=hashed, active=True))
                conn.execute(sa.update(sessions).where(sessions.c.username == username,
                                                       sessions.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
            else:
                conn.execute(sa.insert(users).values(
                    username=username, password_hash=hashed, active=True, created_at=utcnow()))

    def deactivate_user(self, username: str) -> bool:
        """Stop a reviewer from signing in and end their sessions; ``False`` if there is no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(users).where(users.c.username == username.strip()).values(active=False))
            conn.execute(sa.update(sessions).where(sessions.c.username == username.strip(),
                                                   sessions.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
        return bool(done.rowcount)

    def authenticate(self, username: str, password: str) -> bool:
        """Whether ``password`` signs ``username`` in; exactly one scrypt whatever the account's status.

        An unknown user is checked against a hash no password matches, a deactivated one
        against their own hash (and refused after it), so the time taken does not tell an
        existing, an unknown and a deactivated account apart (issue 16, item 16).
        """
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.password_hash, users.c.active)
                               .where(users.c.username == username)).first()
        right = verify_password(password, row.password_hash if row is not None else _NO_USER_HASH)
        return row is not None and bool(row.active) and right

    def user_active(self, username: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.active).where(users.c.username == username)).first()
        return bool(row and row.active)

    # -------------------------------------------------------------- sessions

    def open_session(self, username: str, max_age: int) -> str:
        """Start a session for ``username``; returns its id (only its sha256 is stored)."""
        session_id = secrets.token_urlsafe(32)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now - timedelta(days=1)))  # tidy up
            conn.execute(sa.insert(sessions).values(
                id_hash=_session_hash(session_id), username=username, created_at=now,
                expires_at=now + timedelta(seconds=max_age)))
        return session_id

    def session_user(self, session_id: str, *, allow_inactive: Sequence[str] = ()) -> str | None:
        """The user of a live session: not revoked, not expired, the user still active (or listed)."""
        query = (sa.select(sessions.c.username, sessions.c.expires_at, sessions.c.revoked_at, users.c.active)
                 .select_from(sessions.outerjoin(users, users.c.username == sessions.c.username))
                 .where(sessions.c.id_hash == _session_hash(session_id)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
            return None
        if not row.active and row.username not in allow_inactive:
            return None
        return str(row.username)

    def close_session(self, session_id: str) -> None:
        """Revoke one session (sign-out)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(sessions).where(sessions.c.id_hash == _session_hash(session_id),
                                                   sessions.c.revoked_at.is_(None)).values(revoked_at=utcnow()))

    def revoke_sessions(self, username: str | None = None) -> int:
        """Revoke every live session of ``username`` (of everyone when ``None``); returns how many."""
        now = utcnow()
        query = sa.update(sessions).where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
        if username is not None:
            query = query.where(sessions.c.username == username.strip())
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(revoked_at=now)).rowcount or 0)

    def live_sessions(self, username: str | None = None) -> int:
        """How many sessions are live (not revoked, not expired), of one user or of all."""
        query = sa.select(sa.func.count()).select_from(sessions).where(
            sessions.c.revoked_at.is_(None), sessions.c.expires_at > utcnow())
        if username is not None:
            query = query.where(sessions.c.username == username.strip())
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -------------------------------------------------------------- sign-in throttling

    def login_wait(self, username: str, client: str, limits: LoginLimits) -> int:
        """Seconds before ``client`` may try to sign in as ``username`` again; 0 when it may now.

        A sliding window: ``limits.per_account`` failures for this username from this client,
        or ``limits.per_client`` failures from this client for any username, within
        ``limits.window`` seconds block it until the oldest of them leaves the window.
        A read only: to try a password, use :meth:`claim_login_attempt`, which checks and
        counts in one step.
        """
        with self.engine.connect() as conn:
            return _wait(conn, username, client, limits)

    def claim_login_attempt(self, username: str, client: str, limits: LoginLimits) -> int:
        """Check the limits and count the attempt as a failure, in one transaction; returns the wait.

        Seconds to wait when ``client`` is over a limit (nothing counted then); 0 when it may
        try, with the attempt already counted as a failed sign-in, so that parallel attempts
        cannot all pass the check before any of them is counted (issue 16, item 10). A
        successful sign-in removes it again (:meth:`clear_login_failures`). The transaction
        is serialised per client: under PostgreSQL by a transaction-level advisory lock on
        the client's address, under SQLite by the database's write lock, which its first
        statement (a delete) takes.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(b"goalmatch-login:" + client[:64].encode()).digest()[:8],
                                     "big", signed=True)
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            conn.execute(sa.delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))
            wait = _wait(conn, username, client, limits)
            if not wait:
                conn.execute(sa.insert(login_failures).values(username=username[:80], client=client[:64], at=now))
            return wait

    def record_login_failure(self, username: str, client: str) -> None:
        """Count a failed sign-in (or a wrong bearer token) from ``client``; rows older than a day are dropped."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))
            conn.execute(sa.insert(login_failures).values(username=username[:80], client=client[:64], at=now))

    def clear_login_failures(self, username: str, client: str) -> None:
        """A successful sign-in forgets this client's failures for this username (not its others)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.client == client[:64],
                                                         login_failures.c.username == username[:80]))


def _wait(conn: Connection, username: str, client: str, limits: LoginLimits) -> int:
    """:meth:`Accounts.login_wait` on an open connection (inside the caller's transaction)."""
    now = utcnow()
    since = now - timedelta(seconds=limits.window)
    f = login_failures.c
    wait = 0.0
    for where, limit in (((f.client == client[:64], f.username == username[:80]), limits.per_account),
                         ((f.client == client[:64],), limits.per_client)):
        times = conn.execute(sa.select(f.at).where(*where, f.at > since)
                             .order_by(f.at.desc()).limit(limit)).scalars().all()
        if len(times) >= limit:
            wait = max(wait, (as_utc(times[-1]) + timedelta(seconds=limits.window) - now).total_seconds())
    return max(0, math.ceil(wait))
