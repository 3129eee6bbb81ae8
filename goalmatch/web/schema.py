"""The review database's tables and the migrations that create and upgrade them.

Schema versions: 1 users, applications, reviews, decisions; 2 ``sessions`` (server-side
sign-in, so sign-out and an administrator can revoke a session); 3 ``queue_entries`` (per
application and framework the model's top probability and goals and the review state, so
the queue is filtered, ordered and paged in SQL; filled for existing rows on upgrade);
4 ``login_failures`` (failed sign-ins, so guessing passwords is throttled across restarts
and processes); 5 ``workspaces`` and ``workspace_members`` (an organisation's chosen
frameworks, and which workspace a user works in); 6 ``applications.external_id`` (the
diarienummer), ``text_hash`` (of the normalised text, backfilled) and ``archived_at``, for
duplicate detection and archiving, and ``imports`` (an uploaded spreadsheet between its preview
and its confirmation); 7 ``users.is_admin``, ``invitations`` (one-time sign-up links an
administrator hands out) and ``model_versions`` (the models retrained in the app, and which one
is in use). A migration runs once, in its own transaction
(:meth:`goalmatch.web.store.Store.migrate`); a released version is never edited, only
followed by a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from goalmatch.web import require_web
from goalmatch.web.review import model_goals

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

__all__ = ["MAX_ID", "MIGRATIONS", "applications", "decisions", "imports", "invitations", "login_failures",
           "metadata", "model_versions", "queue_entries", "reviews", "schema_version", "sessions", "text_hash",
           "users", "workspace_members", "workspaces"]

MAX_ID = 2**31 - 1  # ids and versions are 32-bit integers (sa.Integer) in PostgreSQL
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
    # added by migration 7 (created with the table on a new database, by ALTER TABLE on an old one)
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
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
    # migration 6: duplicate detection and archiving (a fresh database gets them from migration 1)
    sa.Column("external_id", sa.String(200), nullable=True, index=True),  # the diarienummer, when known
    sa.Column("text_hash", sa.String(64), nullable=True, index=True),  # text_hash(text)
    sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),  # null: in the queue
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

sessions = sa.Table(  # signed-in browser sessions: the cookie names a row, sign-out or an admin revokes it
    "sessions", metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # sha256 of the cookie's session id, never the id
    sa.Column("username", sa.String(80), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

queue_entries = sa.Table(  # what the queue filters and orders on, per application and framework, kept in SQL
    "queue_entries", metadata,
    sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), primary_key=True),
    sa.Column("framework_id", sa.String(80), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),  # the framework's place in the stored suggestions
    sa.Column("confidence", sa.Float, nullable=False),  # the model's top probability in the framework
    sa.Column("abstained", sa.Boolean, nullable=False),
    sa.Column("model_goals", sa.Text, nullable=False),  # JSON, sorted: the goals the model stands behind
    sa.Column("reviewed", sa.Boolean, nullable=False),
    sa.Column("reviewer_goals", sa.Text, nullable=False),  # JSON, sorted: the current decision's goals
    sa.Column("agrees", sa.Boolean, nullable=True),  # reviewer's goals == model's goals; null: not reviewed
    sa.Index("ix_queue_framework_confidence", "framework_id", "confidence"),
)

login_failures = sa.Table(  # failed sign-ins, counted per client and per (username, client) to throttle guessing
    "login_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False),  # as typed (cut to 80), also for unknown users
    sa.Column("client", sa.String(64), nullable=False),  # the client's address as the app sees it
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_login_failures_client_at", "client", "at"),
)

imports = sa.Table(  # an uploaded spreadsheet between its preview and its confirmation (web/backlog.py)
    "imports", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the token in the preview's URL
    sa.Column("username", sa.String(80), nullable=False),  # only the uploader may see and confirm it
    sa.Column("filename", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON: the columns and the rows' cells
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
_SPACE = re.compile(r"\s+")


def text_hash(text: str) -> str:
    """sha256 of a text with case and whitespace normalised: the same application pasted twice hashes the same.

    >>> text_hash("Fiber  till\\nbyn ") == text_hash("fiber till byn")
    True
    """
    return hashlib.sha256(_SPACE.sub(" ", text).strip().casefold().encode("utf-8")).hexdigest()


invitations = sa.Table(  # one-time sign-up links: only the sha256 of the link's token is kept
    "invitations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

model_versions = sa.Table(  # models trained in the app (and the one first served), at most one active
    "model_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("figures", sa.Text, nullable=False),  # JSON: what the page shows beside the old model's
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("previous_id", sa.Integer, nullable=True),  # the version in use before this one was switched to
)

workspaces = sa.Table(  # an organisation (a Leader office, the region) and the frameworks its reviewers decide on
    "workspaces", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("frameworks", sa.Text, nullable=False),  # JSON list of framework ids, in the order shown
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
workspace_members = sa.Table(  # a user's workspace; a user without a row sees every framework
    "workspace_members", metadata,
    sa.Column("username", sa.String(80), primary_key=True),
    sa.Column("workspace_id", sa.Integer, sa.ForeignKey("workspaces.id"), nullable=False, index=True),
)


def queue_values(application_id: int, suggestions: dict[str, Any]) -> list[dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for position, fw in enumerate(suggestions.get("frameworks") or []):
        if not isinstance(fw, dict) or not isinstance(fw.get("framework_id"), str):
            continue
        probabilities = [float(s.get("probability") or 0.0) for s in fw.get("suggestions") or []]
        values.setdefault(fw["framework_id"][:80], {
                       "application_id": application_id, "framework_id": fw["framework_id"][:80],
                       "position": position,
                       "confidence": max(probabilities, default=0.0), "abstained": bool(fw.get("abstained")),
                       "model_goals": json.dumps(sorted(model_goals(fw))), "reviewed": False,
                       "reviewer_goals": "[]", "agrees": None})
    return list(values.values())


def backfill_queue(conn: Connection) -> None:
    """Migration 3: the queue entries of the applications and decisions already stored."""
    queue_entries.create(conn)
    for row in conn.execute(sa.select(applications.c.id, applications.c.suggestions)):
        values = queue_values(row.id, json.loads(row.suggestions))
        if values:
            conn.execute(sa.insert(queue_entries), values)
    for state in conn.execute(sa.select(reviews)).all():
        mark_reviewed(conn, state.application_id, state.framework_id, json.loads(state.goal_ids))


def mark_reviewed(conn: Connection, application_id: int, framework_id: str, goals: Sequence[str]) -> None:
    where = (queue_entries.c.application_id == application_id, queue_entries.c.framework_id == framework_id)
    entry = conn.execute(sa.select(queue_entries.c.model_goals).where(*where)).first()
    if entry is not None:
        chosen = sorted(set(goals))
        conn.execute(sa.update(queue_entries).where(*where).values(
            reviewed=True, reviewer_goals=json.dumps(chosen), agrees=chosen == json.loads(entry.model_goals)))


def backlog_columns(conn: Connection) -> None:
    """Migration 6: the columns of duplicate detection and archiving, the hashes of the stored texts, ``imports``.

    A database made by migration 1 after this version has the columns already (the table's
    definition holds them): each column and index is added only where it is missing.
    """
    inspector = sa.inspect(conn)
    present = {c["name"] for c in inspector.get_columns("applications")}
    for column in (applications.c.external_id, applications.c.text_hash, applications.c.archived_at):
        if column.name not in present:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE applications ADD COLUMN {column.name} {kind}"))
    indexed = {i["name"] for i in inspector.get_indexes("applications")}
    for index in applications.indexes:
        if index.name not in indexed:
            index.create(conn)
    for row in conn.execute(sa.select(applications.c.id, applications.c.text)
                            .where(applications.c.text_hash.is_(None))).all():
        conn.execute(sa.update(applications).where(applications.c.id == row.id)
                     .values(text_hash=text_hash(row.text)))
    metadata.create_all(conn, tables=[imports])


def admins_and_models(conn: Connection) -> None:
    """Migration 7: ``users.is_admin`` where migration 1 made the table without it; two new tables."""
    if "is_admin" not in {column["name"] for column in sa.inspect(conn).get_columns("users")}:
        conn.execute(sa.text("ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE"))
    metadata.create_all(conn, tables=[invitations, model_versions])


MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "users, applications, reviews, decisions",
     lambda conn: metadata.create_all(conn, tables=[users, applications, reviews, decisions])),
    (2, "sessions (server-side sign-out, expiry and revocation)",
     lambda conn: metadata.create_all(conn, tables=[sessions])),
    (3, "queue entries (the queue filtered, ordered and paged in SQL)", backfill_queue),
    (4, "login failures (sign-in throttling)", lambda conn: metadata.create_all(conn, tables=[login_failures])),
    (5, "workspaces (the frameworks an organisation decides on) and their members",
     lambda conn: metadata.create_all(conn, tables=[workspaces, workspace_members])),
    (6, "applications' external id, text hash and archiving; imports (spreadsheet upload)", backlog_columns),
    (7, "administrators, invitations, model versions", admins_and_models),
)
