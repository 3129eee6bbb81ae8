"""The administrators' side of the review database: who is admin, invitations, per-user history, model versions.

:class:`Team` is mixed into :class:`goalmatch.web.store.Store` beside
:class:`~goalmatch.web.accounts.Accounts`: one engine, one migration runner (the tables are
migration 7's, :mod:`goalmatch.web.schema`).

An invitation is a random token handed out once as a link; only its sha256 is stored, it
expires after :data:`INVITE_DAYS` days and works once. The ``model_versions`` rows record the
model folders trained in the app; at most one is active, and a restarted server loads it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from goalmatch.errors import StoreError  # noqa: E402
from goalmatch.web.accounts import check_new_password, hash_password  # noqa: E402
from goalmatch.web.database import as_utc, utcnow  # noqa: E402
from goalmatch.web.schema import applications, decisions, invitations, model_versions, sessions, users  # noqa: E402

__all__ = ["INVITE_DAYS", "Team", "token_hash"]

INVITE_DAYS = 7


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Team:
    """Administrators, invitations, each reviewer's history and the model versions, over ``engine``."""

    engine: Engine

    # -------------------------------------------------------------- administrators

    def is_admin(self, username: str | None) -> bool:
        """Whether ``username`` is an active administrator."""
        if not username:
            return False
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.is_admin, users.c.active)
                               .where(users.c.username == username.strip())).first()
        return bool(row and row.active and row.is_admin)

    def set_admin(self, username: str, admin: bool = True) -> bool:
        """Make ``username`` an administrator (or not); ``False`` if there is no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(users).where(users.c.username == username.strip()).values(is_admin=admin))
        return bool(done.rowcount)

    def reactivate_user(self, username: str) -> bool:
        """Let a deactivated reviewer sign in again (with their old password); ``False`` if there is no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(users).where(users.c.username == username.strip()).values(active=True))
        return bool(done.rowcount)

    def users_overview(self) -> list[dict[str, Any]]:
        """Every user with their decisions' count, last decision time and live sessions, by name."""
        counts = (sa.select(decisions.c.reviewer, sa.func.count().label("n"),
                            sa.func.max(decisions.c.decided_at).label("last"))
                  .group_by(decisions.c.reviewer).subquery())
        live = (sa.select(sessions.c.username, sa.func.count().label("n"))
                .where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > utcnow())
                .group_by(sessions.c.username).subquery())
        query = (sa.select(users.c.username, users.c.active, users.c.is_admin, users.c.created_at,
                           counts.c.n.label("decisions"), counts.c.last, live.c.n.label("sessions"))
                 .select_from(users.outerjoin(counts, counts.c.reviewer == users.c.username)
                              .outerjoin(live, live.c.username == users.c.username))
                 .order_by(users.c.username))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"username": r.username, "active": bool(r.active), "is_admin": bool(r.is_admin),
                 "decisions": int(r.decisions or 0), "last_decision": as_utc(r.last) if r.last else None,
                 "sessions": int(r.sessions or 0)} for r in rows]

    # -------------------------------------------------------------- invitations

    def create_invitation(self, username: str, created_by: str, days: int = INVITE_DAYS) -> str:
        """A one-time token inviting ``username`` (a name not yet taken); only its hash is stored."""
        username = username.strip()
        if not username or len(username) > 80:
            raise StoreError("Användarnamnet behöver 1–80 tecken.")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise StoreError(f"Det finns redan en användare som heter {username}.")
            conn.execute(sa.insert(invitations).values(
                token_hash=token_hash(token), username=username, created_by=created_by, created_at=now,
                expires_at=now + timedelta(days=days)))
        return token

    def invitation(self, token: str) -> str | None:
        """The invited username of a token still usable (not used, not expired); ``None`` otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(invitations).where(invitations.c.token_hash == token_hash(token))).first()
        if row is None or row.used_at is not None or as_utc(row.expires_at) <= utcnow():
            return None
        return str(row.username)

    def accept_invitation(self, token: str, password: str) -> str:
        """Use the invitation: the user is created with ``password``; returns the username.

        :class:`StoreError` (in Swedish) for a used, expired or unknown token, a weak
        password, or a name someone took since; then nothing is changed.
        """
        check_new_password(password)
        hashed = hash_password(password)
        now = utcnow()
        with self.engine.begin() as conn:
            # claim the token first: of two uses at once, only one updates the row
            claimed = conn.execute(sa.update(invitations).where(
                invitations.c.token_hash == token_hash(token), invitations.c.used_at.is_(None),
                invitations.c.expires_at > now).values(used_at=now))
            if claimed.rowcount != 1:
                raise StoreError("Inbjudan gäller inte längre (den är redan använd, har gått ut eller finns inte). "
                                 "Be en administratör om en ny.")
            username = conn.execute(sa.select(invitations.c.username)
                                    .where(invitations.c.token_hash == token_hash(token))).scalar_one()
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise StoreError(f"Det finns redan en användare som heter {username}; be om en ny inbjudan.")
            conn.execute(sa.insert(users).values(username=username, password_hash=hashed, active=True,
                                                 is_admin=False, created_at=now))
        return str(username)

    # -------------------------------------------------------------- history

    def user_history(self, username: str, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of ``username``'s decisions, newest first, with the applications' titles; and their count."""
        where = decisions.c.reviewer == username
        query = (sa.select(decisions, applications.c.title)
                 .join(applications, applications.c.id == decisions.c.application_id)
                 .where(where).order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
                 .limit(max(1, limit)).offset(max(0, offset)))
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(decisions).where(where)).scalar() or 0)
            rows = conn.execute(query).all()
        return [{"id": r.id, "application_id": r.application_id, "title": r.title, "framework_id": r.framework_id,
                 "action": r.action, "goal_ids": json.loads(r.goal_ids), "comment": r.comment or "",
                 "decided_at": as_utc(r.decided_at)} for r in rows], total

    # -------------------------------------------------------------- model versions

    def record_model(self, name: str, path: str, created_by: str, figures: dict[str, Any]) -> int:
        """Record a model folder (not active); returns its id."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(model_versions).values(
                name=name[:200], path=path, created_at=utcnow(), created_by=created_by[:80],
                figures=json.dumps(figures, ensure_ascii=False), active=False))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def activate_model(self, version_id: int, *, previous: int | None = None) -> None:
        """Make ``version_id`` the one active model version; ``previous``, if given, is what a rollback returns to."""
        v = model_versions.c
        with self.engine.begin() as conn:
            if not conn.execute(sa.select(v.id).where(v.id == version_id)).first():
                raise StoreError(f"Modellversion {version_id} finns inte.")
            conn.execute(sa.update(model_versions).where(v.id != version_id, v.active == sa.true())
                         .values(active=False))
            values: dict[str, Any] = {"active": True}
            if previous is not None:
                values["previous_id"] = previous
            conn.execute(sa.update(model_versions).where(v.id == version_id).values(**values))

    def model_versions(self) -> list[dict[str, Any]]:
        """Every recorded model version, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(model_versions).order_by(model_versions.c.id.desc())).all()
        return [{"id": r.id, "name": r.name, "path": r.path, "created_at": as_utc(r.created_at),
                 "created_by": r.created_by, "figures": json.loads(r.figures), "active": bool(r.active),
                 "previous_id": r.previous_id}
                for r in rows]

    def active_model(self) -> dict[str, Any] | None:
        """The active model version, or ``None`` when the app runs the model it was started with."""
        return next((v for v in self.model_versions() if v["active"]), None)
