"""Workspaces: the frameworks an organisation (a Leader office, the region) decides on.

A workspace has a unique name and an ordered list of framework ids; a user belongs to at
most one (``workspace_members``). A user without a workspace sees every framework the
model has, as before workspaces existed. Framework ids the running model does not know
(a workspace made for another model) are skipped when shown, never an error.

Plain functions over :class:`~goalmatch.web.store.Store`'s engine, so the pages, the
command line (``goalmatch workspace``) and tests share them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

from goalmatch.errors import StoreError  # noqa: E402
from goalmatch.web.database import utcnow  # noqa: E402
from goalmatch.web.schema import users, workspace_members, workspaces  # noqa: E402

__all__ = ["Workspace", "assign", "create", "list_all", "set_frameworks", "visible_frameworks", "workspace_of"]

MAX_NAME = 120


@dataclass(frozen=True)
class Workspace:
    """A workspace as stored: its id, name and framework ids in the order shown."""

    id: int
    name: str
    frameworks: tuple[str, ...]


def _checked(frameworks: Sequence[str], known: Mapping[str, Any] | None) -> list[str]:
    chosen = list(dict.fromkeys(str(f).strip() for f in frameworks if str(f).strip()))
    if not chosen:
        raise StoreError("välj minst ett ramverk för arbetsytan")
    if known is not None:
        unknown = [f for f in chosen if f not in known]
        if unknown:
            raise StoreError(f"okänt ramverk: {', '.join(unknown)}; finns: {', '.join(known)}")
        chosen = [f for f in known if f in chosen]  # in the model's order
    return chosen


def _row(row: Any) -> Workspace:
    return Workspace(int(row.id), row.name, tuple(json.loads(row.frameworks)))


def create(store: Any, name: str, frameworks: Sequence[str], known: Mapping[str, Any] | None = None) -> Workspace:
    """A new workspace; :class:`StoreError` (Swedish) for an empty or taken name or an unknown framework."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise StoreError(f"arbetsytan behöver ett namn (högst {MAX_NAME} tecken)")
    chosen = _checked(frameworks, known)
    taken = StoreError(f"det finns redan en arbetsyta som heter {name!r}")
    try:
        with store.engine.begin() as conn:
            if conn.execute(sa.select(workspaces.c.id).where(workspaces.c.name == name)).first():
                raise taken
            result = conn.execute(sa.insert(workspaces).values(
                name=name, frameworks=json.dumps(chosen), created_at=utcnow()))
            return Workspace(int(result.inserted_primary_key[0]), name, tuple(chosen))
    except IntegrityError:  # created by someone else between the check and the insert
        raise taken from None


def set_frameworks(store: Any, workspace_id: int, frameworks: Sequence[str],
                   known: Mapping[str, Any] | None = None) -> Workspace:
    """Replace a workspace's frameworks (in the model's order when ``known`` is given)."""
    chosen = _checked(frameworks, known)
    with store.engine.begin() as conn:
        done = conn.execute(sa.update(workspaces).where(workspaces.c.id == workspace_id)
                            .values(frameworks=json.dumps(chosen)))
        if done.rowcount != 1:
            raise StoreError("arbetsytan finns inte")
        row = conn.execute(sa.select(workspaces).where(workspaces.c.id == workspace_id)).one()
    return _row(row)


def assign(store: Any, username: str, name: str) -> Workspace:
    """Make ``username`` a member of the workspace called ``name`` (leaving any other)."""
    with store.engine.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first() is None:
            raise StoreError(f"ingen granskare heter {username!r}")
        row = conn.execute(sa.select(workspaces).where(workspaces.c.name == name.strip())).first()
        if row is None:
            raise StoreError(f"ingen arbetsyta heter {name.strip()!r}")
        conn.execute(sa.delete(workspace_members).where(workspace_members.c.username == username))
        conn.execute(sa.insert(workspace_members).values(username=username, workspace_id=row.id))
    return _row(row)


def workspace_of(store: Any, username: str | None) -> Workspace | None:
    """The user's workspace, or None (the user sees every framework)."""
    if not username:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(workspaces).join(
            workspace_members, workspace_members.c.workspace_id == workspaces.c.id)
            .where(workspace_members.c.username == username)).first()
    return _row(row) if row is not None else None


def list_all(store: Any) -> list[Workspace]:
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(sa.select(workspaces).order_by(workspaces.c.name))]


def visible_frameworks(known: Mapping[str, Any], workspace: Workspace | None) -> list[str]:
    """The framework ids a user sees, in the workspace's order; every known one without a workspace.

    >>> visible_frameworks({"a": 1, "b": 2, "c": 3}, Workspace(1, "Leader", ("c", "x", "a")))
    ['c', 'a']
    >>> visible_frameworks({"a": 1, "b": 2}, None)
    ['a', 'b']
    """
    if workspace is None:
        return list(known)
    return [f for f in workspace.frameworks if f in known]
