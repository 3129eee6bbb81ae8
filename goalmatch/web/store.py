"""Storage of the review app: applications, the review queue and the append-only decision trail.

SQLite by default (one file, WAL mode), PostgreSQL by URL (``postgresql+psycopg://…``).
The schema is created and upgraded by a tiny migration runner: each migration has a
version number, runs once in its own transaction and is recorded in ``schema_version``.

Concurrent reviewers: every (application, framework) pair has a version number that
starts at 0. A decision names the version it was made against; when another reviewer
decided in between, :meth:`Store.decide` raises :class:`Conflict` instead of
overwriting. Every decision is a new row in ``decisions`` holding the state it replaced.

The tables and migrations are in :mod:`goalmatch.web.schema`; the users, sessions and
sign-in throttling in :mod:`goalmatch.web.accounts` (part of :class:`Store`), the
connection in :mod:`goalmatch.web.database`.
A database error (connection lost, server gone, SQLite disk full) rolls the transaction
back: a decision and its audit row are written together or not at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

from goalmatch.errors import Conflict, StoreError  # noqa: E402
from goalmatch.model.render import local_time_sv  # noqa: E402
from goalmatch.web.accounts import Accounts, LoginLimits, hash_password, verify_password  # noqa: E402
from goalmatch.web.catalog import Catalog  # noqa: E402
from goalmatch.web.database import connect, default_database_url, iso, utcnow  # noqa: E402
from goalmatch.web.schema import (  # noqa: E402
    MIGRATIONS,
    applications,
    decisions,
    mark_reviewed,
    queue_entries,
    queue_values,
    reviews,
    schema_version,
    text_hash,
)
from goalmatch.web.team import Team  # noqa: E402

__all__ = ["ACTIONS", "Conflict", "Decision", "DecisionIn", "LoginLimits", "Store", "StoreError",
           "default_database_url", "hash_password", "verify_password"]

log = logging.getLogger(__name__)

ACTIONS = ("accept", "reject", "correct")


@dataclass(frozen=True)
class DecisionIn:
    """A decision to record: the framework, the action, its goals and the version it was made against."""

    framework_id: str
    action: str
    goal_ids: tuple[str, ...]
    expected_version: int
    comment: str = ""


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
            "comment": self.comment, "reviewer": self.reviewer, "decided_at": iso(self.decided_at),
            "previous": self.previous,
        }


class Store(Catalog, Team, Accounts):
    """The review database. ``Store(url)`` connects and brings the schema up to date.

    Its accounts, sessions and sign-in throttling are :class:`~goalmatch.web.accounts.Accounts`'
    methods, mixed in: one engine and one migration runner serve both.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = connect(url)
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
                    version=version, description=description, applied_at=utcnow()))
                applied.append(version)
                log.info("database schema: applied migration %d (%s)", version, description)
        return applied

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)

    # -------------------------------------------------------------- applications

    def add_application(self, title: str, text: str, source: str, suggestions: dict[str, Any],
                        created_by: str | None = None, external_id: str | None = None) -> int:
        if not text.strip():
            raise StoreError("the application text is empty")
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(applications).values(
                title=(title.strip() or _title_of(text))[:300], text=text, source=source[:200] or "web",
                suggestions=json.dumps(suggestions, ensure_ascii=False), created_by=created_by,
                created_at=utcnow(), external_id=(external_id or "").strip()[:200] or None, text_hash=text_hash(text)))
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
                "created_at": iso(row.created_at)}
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
        frameworks: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the queue and the number of applications that pass the filters, all in SQL.

        ``frameworks`` (a workspace's) limits everything to those frameworks: nobody's
        confidence, review count or disagreement comes from a framework outside it; None is
        every framework. ``confidence`` is the top probability in the chosen framework (the
        lowest over ``frameworks`` when none is chosen), and ``confidences`` has each
        framework's own (``{"confidence", "abstained"}`` by id, in the stored order);
        ``reviewed`` is ``"yes"``/``"no"``/``""``;
        ``disagreement`` keeps applications where a reviewer chose other goals than the
        model; ``order`` is ``least_sure`` (the model's least sure first) or ``newest``.
        """
        q = queue_entries
        where = [q.c.framework_id == framework] if framework else []
        where.append(q.c.application_id.in_(sa.select(applications.c.id).where(applications.c.archived_at.is_(None))))
        if frameworks is not None:
            where.append(q.c.framework_id.in_(list(frameworks)))
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
                "id": r.id, "title": r.title, "source": r.source, "created_at": iso(r.created_at),
                "confidence": float(r.confidence), "reviewed": sum(1 for e in mine if e.reviewed),
                "frameworks": len(mine),
                "disagreements": [e.framework_id for e in mine if e.reviewed and e.agrees is False],
                "abstained": [e.framework_id for e in mine if e.abstained],
                "top": [(e.framework_id, json.loads(e.model_goals)) for e in mine],
                "confidences": {e.framework_id: {"confidence": float(e.confidence), "abstained": bool(e.abstained)}
                                for e in mine},
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
        return self.decide_many(application_id, [DecisionIn(framework_id, action, tuple(goal_ids),
                                                            expected_version, comment)], reviewer=reviewer)[0]

    def decide_many(self, application_id: int, items: Sequence[DecisionIn], *, reviewer: str,
                    names: Mapping[str, str] | None = None) -> list[Decision]:
        """Record several frameworks' decisions on one application in one transaction: all or none.

        Each item names the version it was made against; one stale item raises
        :class:`Conflict` (naming its framework by ``names`` when there is more than one item)
        and nothing is saved.
        """
        for item in items:
            if item.action not in ACTIONS:
                raise StoreError(f"unknown action {item.action!r}; expected one of {', '.join(ACTIONS)}")
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                # a no-op write first: it locks the application's row (PostgreSQL) or the database
                # (SQLite) so concurrent decisions on one application queue up instead of racing
                locked = conn.execute(sa.update(applications).where(applications.c.id == application_id)
                                      .values(id=applications.c.id))
                if locked.rowcount != 1:
                    raise StoreError(f"no application {application_id}")
                out = []
                for item in items:
                    try:
                        out.append(_record(conn, application_id, item, reviewer, now))
                    except Conflict as exc:
                        if len(items) > 1:
                            name = (names or {}).get(item.framework_id, item.framework_id)
                            raise Conflict(f"{name}: {exc}", exc.current) from None
                        raise
                return out
        except IntegrityError:  # two first decisions at once: the primary key refuses the second
            raise _conflict(None, items[0].expected_version if items else 0) from None

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


def _record(conn: Any, application_id: int, item: DecisionIn, reviewer: str, now: datetime) -> Decision:
    """One decision, inside the caller's transaction: the state checked and replaced, the trail appended."""
    goals = list(dict.fromkeys(item.goal_ids))
    expected = item.expected_version
    new_state = {"action": item.action, "goal_ids": json.dumps(goals), "reviewer": reviewer, "decided_at": now}
    where = (reviews.c.application_id == application_id, reviews.c.framework_id == item.framework_id)
    current = conn.execute(sa.select(reviews).where(*where)).first()
    if (current.version if current else 0) != expected:
        raise _conflict(current, expected)
    if current is None:
        conn.execute(sa.insert(reviews).values(
            application_id=application_id, framework_id=item.framework_id, version=1, **new_state))
    else:
        done = conn.execute(sa.update(reviews).where(*where, reviews.c.version == expected)
                            .values(version=expected + 1, **new_state))
        if done.rowcount != 1:  # another writer got in between our read and write
            raise _conflict(None, expected)
    mark_reviewed(conn, application_id, item.framework_id, goals)
    previous = json.dumps(_state(current)) if current else None
    result = conn.execute(sa.insert(decisions).values(
        application_id=application_id, framework_id=item.framework_id, version=expected + 1,
        comment=item.comment, previous=previous, **new_state))
    return Decision(_new_id(result), application_id, item.framework_id, expected + 1, item.action, tuple(goals),
                    item.comment, reviewer, now, json.loads(previous) if previous else None)


def _conflict(current: Any, expected: int) -> Conflict:
    state = _state(current) if current is not None else None
    who = f" av {current.reviewer} ({local_time_sv(current.decided_at)})" if current is not None else ""
    return Conflict(
        f"Någon annan har redan beslutat om detta ramverk{who}; ditt beslut gällde version {expected}. "
        "Läs det nya läget och besluta igen.", state)


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
        "created_at": iso(row.created_at), "external_id": row.external_id,
    }


def _state(row: Any) -> dict[str, Any]:
    return {
        "version": row.version, "action": row.action, "goal_ids": json.loads(row.goal_ids),
        "reviewer": row.reviewer, "decided_at": iso(row.decided_at),
    }
