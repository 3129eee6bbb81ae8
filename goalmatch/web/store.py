"""Storage of the review app: users, applications and the append-only decision trail.

SQLite by default (one file, WAL mode), PostgreSQL by URL (``postgresql+psycopg://…``).
The schema is created and upgraded by a tiny migration runner: each migration has a
version number, runs once in its own transaction and is recorded in ``schema_version``.

Concurrent reviewers: every (application, framework) pair has a version number that
starts at 0. A decision names the version it was made against; when another reviewer
decided in between, :meth:`Store.decide` raises :class:`Conflict` instead of
overwriting. Every decision is a new row in ``decisions`` holding the state it replaced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

__all__ = ["ACTIONS", "Conflict", "Decision", "Store", "StoreError", "hash_password", "verify_password"]

log = logging.getLogger(__name__)

ACTIONS = ("accept", "reject", "correct")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
applications = sa.Table(
    "applications", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("suggestions", sa.Text, nullable=False),  # Suggestions.to_dict() as JSON
    sa.Column("created_by", sa.String(80), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
reviews = sa.Table(  # the current state per application and framework, with its version
    "reviews", metadata,
    sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), primary_key=True),
    sa.Column("framework_id", sa.String(80), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("goal_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("reviewer", sa.String(80), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)
decisions = sa.Table(  # append-only audit trail
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), nullable=False, index=True),
    sa.Column("framework_id", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # the version this decision created
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("goal_ids", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("reviewer", sa.String(80), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("previous", sa.Text, nullable=True),  # JSON of the replaced state, null for the first
    sa.UniqueConstraint("application_id", "framework_id", "version", name="uq_decision_version"),
)

MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "users, applications, reviews, decisions",
     lambda conn: metadata.create_all(conn, tables=[users, applications, reviews, decisions])),
)


class StoreError(ValueError):
    """A request the store cannot carry out (unknown application, bad action or goal)."""


class Conflict(StoreError):
    """Someone else decided on the same application and framework since the form was read."""

    def __init__(self, message: str, current: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.current = current


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
        """Add a reviewer, or set a new password for an existing one."""
        username = username.strip()
        if not username or len(username) > 80:
            raise StoreError("a username needs 1 to 80 characters")
        hashed = hash_password(password)
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if existing:
                conn.execute(sa.update(users).where(users.c.id == existing.id).values(
                    password_hash=hashed, active=True))
            else:
                conn.execute(sa.insert(users).values(
                    username=username, password_hash=hashed, active=True, created_at=_now()))

    def authenticate(self, username: str, password: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.password_hash, users.c.active)
                               .where(users.c.username == username)).first()
        if row is None:
            verify_password(password, hash_password("timing-equaliser"))  # as slow as a real check
            return False
        return bool(row.active) and verify_password(password, row.password_hash)

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
            return _new_id(result)

    def application(self, application_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(applications).where(applications.c.id == application_id)).first()
        if row is None:
            raise StoreError(f"no application {application_id}")
        return _application(row)

    def applications(self) -> list[dict[str, Any]]:
        """Every application with its current review states (``reviews``: framework id → state)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(applications).order_by(applications.c.id)).all()
            states = conn.execute(sa.select(reviews)).all()
        by_app: dict[int, dict[str, dict[str, Any]]] = {}
        for state in states:
            by_app.setdefault(state.application_id, {})[state.framework_id] = _state(state)
        out = []
        for row in rows:
            app = _application(row)
            app["reviews"] = by_app.get(row.id, {})
            out.append(app)
        return out

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
