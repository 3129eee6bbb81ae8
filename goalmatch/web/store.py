"""Storage of the review app: users, applications and the append-only decision trail.

SQLite by default (one file, WAL mode), PostgreSQL by URL (``postgresql+psycopg://…``).
The schema is created and upgraded by a tiny migration runner: each migration has a
version number, runs once in its own transaction and is recorded in ``schema_version``.

Concurrent reviewers: every (application, framework) pair has a version number that
starts at 0. A decision names the version it was made against; when another reviewer
decided in between, :meth:`Store.decide` raises :class:`Conflict` instead of
overwriting. Every decision is a new row in ``decisions`` holding the state it replaced.

The tables and migrations are in :mod:`goalmatch.web.schema`.
A database error (connection lost, server gone, SQLite disk full) rolls the transaction
back: a decision and its audit row are written together or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

from goalmatch.web.schema import (  # noqa: E402
    MIGRATIONS,
    applications,
    decisions,
    login_failures,
    mark_reviewed,
    queue_entries,
    queue_values,
    reviews,
    schema_version,
    sessions,
    users,
)

__all__ = ["ACTIONS", "Conflict", "Decision", "LoginLimits", "Store", "StoreError", "hash_password", "verify_password"]

log = logging.getLogger(__name__)

ACTIONS = ("accept", "reject", "correct")


class StoreError(ValueError):
    """A request the store cannot carry out (unknown application, bad action or goal)."""


class Conflict(StoreError):
    """Someone else decided on the same application and framework since the form was read."""

    def __init__(self, message: str, current: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class LoginLimits:
    """How many failed sign-ins a client gets within ``window`` seconds before it must wait."""

    per_account: int = 5  # for one username from one client
    per_client: int = 30  # for any usernames from one client
    window: int = 15 * 60

    def __post_init__(self) -> None:
        if min(self.per_account, self.per_client, self.window) < 1:
            raise ValueError("login limits must be positive")


@dataclass(frozen=True)
class Decision:
    """One row of the audit trail."""

    id: int
    application_id: int
    framework_id: str
    version: int
    action: str
    goal_ids: tuple[str, ...]
    comment: str
    reviewer: str
    decided_at: datetime
    previous: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "application_id": self.application_id, "framework_id": self.framework_id,
            "version": self.version, "action": self.action, "goal_ids": list(self.goal_ids),
            "comment": self.comment, "reviewer": self.reviewer, "decided_at": _iso(self.decided_at),
            "previous": self.previous,
        }


# ------------------------------------------------------------------ passwords

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


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


# ------------------------------------------------------------------ the store


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite hands back naive datetimes


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def default_database_url(path: str = "goalmatch-review.sqlite3") -> str:
    return f"sqlite:///{path}"


class Store:
    """The review database. ``Store(url)`` connects and brings the schema up to date."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _engine(url)
        self.migrate()

    # -------------------------------------------------------------- schema

    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded; returns the versions applied (idempotent)."""
        schema_version.create(self.engine, checkfirst=True)
        applied: list[int] = []
        for version, description, step in MIGRATIONS:
            with self.engine.begin() as conn:
                done = conn.execute(
                    sa.select(schema_version.c.version).where(schema_version.c.version == version)
                ).first()
                if done:
                    continue
                step(conn)
                conn.execute(sa.insert(schema_version).values(
                    version=version, description=description, applied_at=_now()))
                applied.append(version)
                log.info("database schema: applied migration %d (%s)", version, description)
        return applied

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)

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
                                                       sessions.c.revoked_at.is_(None)).values(revoked_at=_now()))
            else:
                conn.execute(sa.insert(users).values(
                    username=username, password_hash=hashed, active=True, created_at=_now()))

    def deactivate_user(self, username: str) -> bool:
        """Stop a reviewer from signing in and end their sessions; ``False`` if there is no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(users).where(users.c.username == username.strip()).values(active=False))
            conn.execute(sa.update(sessions).where(sessions.c.username == username.strip(),
                                                   sessions.c.revoked_at.is_(None)).values(revoked_at=_now()))
        return bool(done.rowcount)

    def authenticate(self, username: str, password: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.password_hash, users.c.active)
                               .where(users.c.username == username)).first()
        if row is None:
            verify_password(password, hash_password("timing-equaliser"))  # as slow as a real check
            return False
        return bool(row.active) and verify_password(password, row.password_hash)

    # -------------------------------------------------------------- sessions

    def open_session(self, username: str, max_age: int) -> str:
        """Start a session for ``username``; returns its id (only its sha256 is stored)."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
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
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= _now():
            return None
        if not row.active and row.username not in allow_inactive:
            return None
        return str(row.username)

    def close_session(self, session_id: str) -> None:
        """Revoke one session (sign-out)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(sessions).where(sessions.c.id_hash == _session_hash(session_id),
                                                   sessions.c.revoked_at.is_(None)).values(revoked_at=_now()))

    def revoke_sessions(self, username: str | None = None) -> int:
        """Revoke every live session of ``username`` (of everyone when ``None``); returns how many."""
        now = _now()
        query = sa.update(sessions).where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
        if username is not None:
            query = query.where(sessions.c.username == username.strip())
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(revoked_at=now)).rowcount or 0)

    def live_sessions(self, username: str | None = None) -> int:
        """How many sessions are live (not revoked, not expired), of one user or of all."""
        query = sa.select(sa.func.count()).select_from(sessions).where(
            sessions.c.revoked_at.is_(None), sessions.c.expires_at > _now())
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
        """
        now = _now()
        since = now - timedelta(seconds=limits.window)
        f = login_failures.c
        wait = 0.0
        with self.engine.connect() as conn:
            for where, limit in (((f.client == client[:64], f.username == username[:80]), limits.per_account),
                                 ((f.client == client[:64],), limits.per_client)):
                times = conn.execute(sa.select(f.at).where(*where, f.at > since)
                                     .order_by(f.at.desc()).limit(limit)).scalars().all()
                if len(times) >= limit:
                    wait = max(wait, (_aware(times[-1]) + timedelta(seconds=limits.window) - now).total_seconds())
        return max(0, math.ceil(wait))

    def record_login_failure(self, username: str, client: str) -> None:
        """Count a failed sign-in (or a wrong bearer token) from ``client``; rows older than a day are dropped."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))
            conn.execute(sa.insert(login_failures).values(username=username[:80], client=client[:64], at=now))

    def clear_login_failures(self, username: str, client: str) -> None:
        """A successful sign-in forgets this client's failures for this username (not its others)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.client == client[:64],
                                                         login_failures.c.username == username[:80]))

    def user_active(self, username: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.active).where(users.c.username == username)).first()
        return bool(row and row.active)

    # -------------------------------------------------------------- applications

    def add_application(self, title: str, text: str, source: str, suggestions: dict[str, Any],
                        created_by: str | None = None) -> int:
        if not text.strip():
            raise StoreError("the application text is empty")
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(applications).values(
                title=(title.strip() or _title_of(text))[:300], text=text, source=source[:200] or "web",
                suggestions=json.dumps(suggestions, ensure_ascii=False), created_by=created_by,
                created_at=_now()))
            application_id = _new_id(result)
            values = queue_values(application_id, suggestions)
            if values:
                conn.execute(sa.insert(queue_entries), values)
            return application_id

    def application(self, application_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(applications).where(applications.c.id == application_id)).first()
        if row is None:
            raise StoreError(f"no application {application_id}")
        return _application(row)

    def applications(self, *, content: bool = True, ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        """Applications with their current review states (``reviews``: framework id → state).

        Every application, or those in ``ids``; ``content=False`` leaves out the text and
        the suggestions (the bulk of a row).
        """
        columns = list(applications.c) if content else [
            c for c in applications.c if c.name not in ("text", "suggestions")]
        query = sa.select(*columns).order_by(applications.c.id)
        state_query = sa.select(reviews)
        if ids is not None:
            if not ids:
                return []
            query = query.where(applications.c.id.in_(sorted(ids)))
            state_query = state_query.where(reviews.c.application_id.in_(sorted(ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            states = conn.execute(state_query).all()
        by_app: dict[int, dict[str, dict[str, Any]]] = {}
        for state in states:
            by_app.setdefault(state.application_id, {})[state.framework_id] = _state(state)
        out = []
        for row in rows:
            app = _application(row) if content else {
                "id": row.id, "title": row.title, "source": row.source, "created_by": row.created_by,
                "created_at": _iso(row.created_at)}
            app["reviews"] = by_app.get(row.id, {})
            out.append(app)
        return out

    def reviewed_entries(self) -> list[dict[str, Any]]:
        """The model's and the reviewer's goals per reviewed application and framework (the dashboard's data)."""
        q = queue_entries
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(q.c.framework_id, q.c.model_goals, q.c.reviewer_goals)
                                .where(q.c.reviewed == sa.true())).all()
        return [{"framework_id": r.framework_id, "model_goals": json.loads(r.model_goals),
                 "reviewer_goals": json.loads(r.reviewer_goals)} for r in rows]

    def queue(
        self, *, framework: str = "", goal: str = "", max_confidence: float | None = None, reviewed: str = "",
        disagreement: bool = False, order: str = "least_sure", limit: int = 50, offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the queue and the number of applications that pass the filters, all in SQL.

        ``confidence`` is the top probability in the chosen framework (the lowest over all
        frameworks when none is chosen); ``reviewed`` is ``"yes"``/``"no"``/``""``;
        ``disagreement`` keeps applications where a reviewer chose other goals than the
        model; ``order`` is ``least_sure`` (the model's least sure first) or ``newest``.
        """
        q = queue_entries
        where = [q.c.framework_id == framework] if framework else []
        confidence = sa.func.min(q.c.confidence)
        count = sa.func.count()
        done = sa.func.sum(sa.case((q.c.reviewed == sa.true(), 1), else_=0))
        having = []
        if goal:
            pattern = "%" + json.dumps(goal).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            hit = sa.or_(q.c.model_goals.like(pattern, escape="\\"), q.c.reviewer_goals.like(pattern, escape="\\"))
            having.append(sa.func.sum(sa.case((hit, 1), else_=0)) > 0)
        if max_confidence is not None:
            having.append(confidence <= max_confidence)
        if reviewed == "yes":
            having.append(done == count)
        elif reviewed == "no":
            having.append(done < count)
        if disagreement:
            having.append(sa.func.sum(sa.case((q.c.agrees == sa.false(), 1), else_=0)) > 0)
        grouped = (sa.select(q.c.application_id, confidence.label("confidence")).where(*where)
                   .group_by(q.c.application_id).having(*having).subquery())
        ordering = ([grouped.c.confidence, applications.c.id] if order == "least_sure"
                    else [applications.c.id.desc()])
        page = (sa.select(applications.c.id, applications.c.title, applications.c.source, applications.c.created_at,
                          grouped.c.confidence)
                .join(grouped, grouped.c.application_id == applications.c.id)
                .order_by(*ordering).limit(max(1, limit)).offset(max(0, offset)))
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(grouped)).scalar() or 0)
            rows = conn.execute(page).all()
            ids = [r.id for r in rows]
            entries = conn.execute(sa.select(q).where(q.c.application_id.in_(ids), *where)
                                   .order_by(q.c.application_id, q.c.position)).all() if ids else []
        by_app: dict[int, list[Any]] = {}
        for entry in entries:
            by_app.setdefault(entry.application_id, []).append(entry)
        out = []
        for r in rows:
            mine = by_app.get(r.id, [])
            out.append({
                "id": r.id, "title": r.title, "source": r.source, "created_at": _iso(r.created_at),
                "confidence": float(r.confidence), "reviewed": sum(1 for e in mine if e.reviewed),
                "frameworks": len(mine),
                "disagreements": [e.framework_id for e in mine if e.reviewed and e.agrees is False],
                "abstained": [e.framework_id for e in mine if e.abstained],
                "top": [(e.framework_id, json.loads(e.model_goals)) for e in mine],
            })
        return out, total

    # -------------------------------------------------------------- decisions

    def review_state(self, application_id: int, framework_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reviews).where(
                reviews.c.application_id == application_id, reviews.c.framework_id == framework_id)).first()
        return _state(row) if row else None

    def review_states(self, application_id: int) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(reviews).where(reviews.c.application_id == application_id)).all()
        return {row.framework_id: _state(row) for row in rows}

    def decide(
        self, application_id: int, framework_id: str, action: str, goal_ids: Sequence[str], *,
        reviewer: str, expected_version: int, comment: str = "",
    ) -> Decision:
        """Record a decision made against ``expected_version``; :class:`Conflict` if it is stale."""
        if action not in ACTIONS:
            raise StoreError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        goals = list(dict.fromkeys(goal_ids))
        now = _now()
        new_state = {"action": action, "goal_ids": json.dumps(goals), "reviewer": reviewer, "decided_at": now}
        try:
            with self.engine.begin() as conn:
                # a no-op write first: it locks the application's row (PostgreSQL) or the database
                # (SQLite) so concurrent decisions on one application queue up instead of racing
                locked = conn.execute(sa.update(applications).where(applications.c.id == application_id)
                                      .values(id=applications.c.id))
                if locked.rowcount != 1:
                    raise StoreError(f"no application {application_id}")
                where = (reviews.c.application_id == application_id, reviews.c.framework_id == framework_id)
                current = conn.execute(sa.select(reviews).where(*where)).first()
                current_version = current.version if current else 0
                if current_version != expected_version:
                    raise self._conflict(current, expected_version)
                if current is None:
                    conn.execute(sa.insert(reviews).values(
                        application_id=application_id, framework_id=framework_id, version=1, **new_state))
                else:
                    done = conn.execute(sa.update(reviews).where(*where, reviews.c.version == expected_version)
                                        .values(version=expected_version + 1, **new_state))
                    if done.rowcount != 1:  # another writer got in between our read and write
                        raise self._conflict(None, expected_version)
                mark_reviewed(conn, application_id, framework_id, goals)
                previous = json.dumps(_state(current)) if current else None
                result = conn.execute(sa.insert(decisions).values(
                    application_id=application_id, framework_id=framework_id, version=expected_version + 1,
                    comment=comment, previous=previous, **new_state))
                decision_id = _new_id(result)
        except IntegrityError:  # two first decisions at once: the primary key refuses the second
            raise self._conflict(None, expected_version) from None
        return Decision(decision_id, application_id, framework_id, expected_version + 1, action, tuple(goals),
                        comment, reviewer, now, json.loads(previous) if previous else None)

    def _conflict(self, current: Any, expected: int) -> Conflict:
        state = _state(current) if current is not None else None
        who = f" av {state['reviewer']} ({state['decided_at']})" if state else ""
        return Conflict(
            f"Någon annan har redan beslutat om detta ramverk{who}; ditt beslut gällde version {expected}. "
            "Läs det nya läget och besluta igen.", state)

    def decisions(self, application_id: int | None = None) -> list[Decision]:
        """The audit trail, oldest first; of one application, or all."""
        query = sa.select(decisions).order_by(decisions.c.id)
        if application_id is not None:
            query = query.where(decisions.c.application_id == application_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Decision(r.id, r.application_id, r.framework_id, r.version, r.action, tuple(json.loads(r.goal_ids)),
                     r.comment or "", r.reviewer, r.decided_at, json.loads(r.previous) if r.previous else None)
            for r in rows
        ]


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - every backend here returns it
        raise StoreError("the database returned no id for the new row")
    return int(key[0])


def _title_of(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:120] or "Ansökan utan titel"


def _application(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "title": row.title, "text": row.text, "source": row.source,
        "suggestions": json.loads(row.suggestions), "created_by": row.created_by,
        "created_at": _iso(row.created_at),
    }


def _state(row: Any) -> dict[str, Any]:
    return {
        "version": row.version, "action": row.action, "goal_ids": json.loads(row.goal_ids),
        "reviewer": row.reviewer, "decided_at": _iso(row.decided_at),
    }
