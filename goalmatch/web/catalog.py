"""The backlog's side of the review database: duplicates, archiving, deleting and pending imports.

An application may carry its ``external_id`` (the diarienummer) and always carries the
``text_hash`` of its normalised text (:func:`goalmatch.web.schema.text_hash`), so the
same application stored twice is found by either. Archiving takes an application out of
the queue and can be undone; deleting is refused once a decision was made on it (the
audit trail keeps its decisions), so such an application is archived instead.

An uploaded spreadsheet waits in ``imports`` between its preview and its confirmation,
named by the sha256 of a random token and bound to the user who uploaded it, so any
worker process of the app can show and confirm it, and nobody else can.

:class:`Catalog` is a part of :class:`goalmatch.web.store.Store`, which mixes it in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from goalmatch.errors import StoreError  # noqa: E402
from goalmatch.web.database import iso, utcnow  # noqa: E402
from goalmatch.web.schema import applications, decisions, imports, queue_entries, reviews  # noqa: E402

__all__ = ["IMPORT_TTL", "Catalog", "ImportGone"]

log = logging.getLogger(__name__)

IMPORT_TTL = timedelta(hours=2)
"""How long an uploaded spreadsheet waits for its confirmation."""
_CHUNK = 500  # values per IN (...) list


class ImportGone(StoreError):
    """The import does not exist, has expired, was confirmed already or is another user's."""


def _chunks(values: Iterable[str]) -> list[list[str]]:
    items = sorted(set(values))
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


class Catalog:
    """Duplicates, archiving, deleting and pending imports (mixed into the Store, which sets ``engine``)."""

    engine: Engine

    # -------------------------------------------------------------- duplicates

    def stored_matches(self, external_ids: Collection[str], hashes: Collection[str]
                       ) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """The stored applications (archived ones too) with these external ids, and with these text hashes."""
        a = applications
        by_id: dict[str, list[int]] = {}
        by_hash: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(external_ids):
                for row in conn.execute(sa.select(a.c.id, a.c.external_id).where(a.c.external_id.in_(chunk))):
                    by_id.setdefault(row.external_id, []).append(row.id)
            for chunk in _chunks(hashes):
                for row in conn.execute(sa.select(a.c.id, a.c.text_hash).where(a.c.text_hash.in_(chunk))):
                    by_hash.setdefault(row.text_hash, []).append(row.id)
        return by_id, by_hash

    def backlog_facts(self, application_id: int) -> dict[str, Any]:
        """An application's diarienummer, archiving, number of decisions and the other applications it duplicates."""
        a = applications
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(a.c.id, a.c.external_id, a.c.text_hash, a.c.archived_at)
                               .where(a.c.id == application_id)).first()
            if row is None:
                raise StoreError(f"no application {application_id}")
            decided = int(conn.execute(sa.select(sa.func.count()).select_from(decisions)
                                       .where(decisions.c.application_id == application_id)).scalar() or 0)
            same = [a.c.text_hash == row.text_hash] + ([a.c.external_id == row.external_id] if row.external_id else [])
            others = conn.execute(sa.select(a.c.id, a.c.title, a.c.external_id, a.c.text_hash, a.c.archived_at)
                                  .where(sa.or_(*same), a.c.id != application_id).order_by(a.c.id)).all()
        return {
            "external_id": row.external_id, "archived_at": row.archived_at, "decisions": decided,
            "duplicates": [{"id": o.id, "title": o.title, "archived": o.archived_at is not None,
                            "same_id": bool(row.external_id) and o.external_id == row.external_id,
                            "same_text": o.text_hash == row.text_hash} for o in others],
        }

    def identities(self, ids: Collection[int]) -> dict[int, tuple[str | None, str | None]]:
        """``application id → (external id, text hash)`` of these applications."""
        a = applications
        out: dict[int, tuple[str | None, str | None]] = {}
        with self.engine.connect() as conn:
            for chunk in [sorted(ids)[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]:
                for row in conn.execute(sa.select(a.c.id, a.c.external_id, a.c.text_hash).where(a.c.id.in_(chunk))):
                    out[row.id] = (row.external_id, row.text_hash)
        return out

    # -------------------------------------------------------------- archive, restore, delete

    def set_archived(self, application_id: int, archived: bool, *, by: str) -> None:
        """Archive an application (out of the queue) or bring it back."""
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(applications).where(applications.c.id == application_id)
                                .values(archived_at=utcnow() if archived else None))
        if done.rowcount != 1:
            raise StoreError(f"no application {application_id}")
        log.info("application %d %s by %s", application_id, "archived" if archived else "restored", by)

    def delete_application(self, application_id: int, *, by: str) -> None:
        """Remove an application on which no decision was made; :class:`StoreError` (Swedish) otherwise."""
        with self.engine.begin() as conn:
            made = conn.execute(sa.select(sa.func.count()).select_from(decisions)
                                .where(decisions.c.application_id == application_id)).scalar()
            if made:
                raise StoreError(f"Ansökan har {made} beslut och kan därför inte tas bort (besluten ska finnas kvar); "
                                 "arkivera den i stället.")
            conn.execute(sa.delete(queue_entries).where(queue_entries.c.application_id == application_id))
            conn.execute(sa.delete(reviews).where(reviews.c.application_id == application_id))
            done = conn.execute(sa.delete(applications).where(applications.c.id == application_id))
        if done.rowcount != 1:
            raise StoreError(f"no application {application_id}")
        log.info("application %d deleted by %s", application_id, by)

    def archived(self, limit: int = 500) -> list[dict[str, Any]]:
        """The archived applications, the latest archived first."""
        a = applications
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a.c.id, a.c.title, a.c.external_id, a.c.archived_at)
                                .where(a.c.archived_at.is_not(None))
                                .order_by(a.c.archived_at.desc(), a.c.id.desc()).limit(limit)).all()
        return [{"id": r.id, "title": r.title, "external_id": r.external_id, "archived_at": r.archived_at}
                for r in rows]

    # -------------------------------------------------------------- pending imports

    def save_import(self, username: str, filename: str, payload: dict[str, Any]) -> str:
        """Keep a parsed upload for its uploader; returns the token that names it (only its hash is stored)."""
        token = secrets.token_urlsafe(24)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(imports).where(imports.c.expires_at < now))  # the expired ones go
            conn.execute(sa.insert(imports).values(
                token_hash=_hash(token), username=username, filename=filename[:200],
                payload=json.dumps(payload, ensure_ascii=False), created_at=now, expires_at=now + IMPORT_TTL))
        return token

    def load_import(self, token: str, username: str, *, take: bool = False) -> dict[str, Any]:
        """A pending import of ``username``'s; ``take`` removes it too (it is confirmed once)."""
        where = (imports.c.token_hash == _hash(token), imports.c.username == username,
                 imports.c.expires_at > utcnow())
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(imports).where(*where)).first()
            if row is None or (take and conn.execute(sa.delete(imports).where(*where)).rowcount != 1):
                raise ImportGone("Importen finns inte, har redan genomförts eller har gått ut (efter "
                                 f"{int(IMPORT_TTL.total_seconds() // 3600)} timmar); ladda upp filen igen.")
        return {"filename": row.filename, "created_at": iso(row.created_at), **json.loads(row.payload)}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
