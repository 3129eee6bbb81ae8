"""``goalmatch workspace``: the frameworks an organisation's reviewers see in the review app.

``workspace add NAME --frameworks a b c`` creates a workspace (a Leader office, the region)
with its frameworks in order; ``workspace assign USER NAME`` puts a reviewer in it;
``workspace list`` shows them. The output is Swedish (a case officer or an administrator reads
it). The workers are plain functions that take a database URL; importing this module needs
only the standard library.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from goalmatch.cli.serve import DEFAULT_DATABASE, add_database_argument
from goalmatch.errors import BadInput

__all__ = ["add_parsers", "add_workspace", "assign_workspace", "list_workspaces", "run_workspace"]


def add_parsers(sub: Any) -> None:
    """Add ``workspace`` (with ``add``, ``assign``, ``list``) to a ``goalmatch`` subparsers object."""
    p = sub.add_parser("workspace", help="välj vilka ramverk en arbetsyta i granskningsappen beslutar om")
    actions = p.add_subparsers(dest="workspace_action", required=True, metavar="ÅTGÄRD")
    add = actions.add_parser("add", help="skapa en arbetsyta med dess ramverk, i ordning")
    add.add_argument("name", metavar="NAMN", help="arbetsytans namn, t.ex. 'Leader Tornedalen'")
    add.add_argument("--frameworks", nargs="+", required=True, metavar="RAMVERK",
                     help="ramverkens id:n, t.ex. leader-tornedalen rus")
    assign = actions.add_parser("assign", help="placera en granskare i en arbetsyta")
    assign.add_argument("username", metavar="ANVÄNDARNAMN", help="granskarens inloggningsnamn")
    assign.add_argument("name", metavar="NAMN", help="arbetsytans namn")
    listing = actions.add_parser("list", help="arbetsytorna och deras ramverk")
    for parser in (add, assign, listing):
        add_database_argument(parser)
    p.set_defaults(run=run_workspace)


def _store(database_url: str | None) -> Any:
    from goalmatch.web import require_web

    try:
        require_web()
    except ImportError as exc:
        raise BadInput(str(exc)) from None
    from goalmatch.web.store import Store

    return Store(database_url or os.environ.get("GOALMATCH_DATABASE_URL", DEFAULT_DATABASE))


def _call(database_url: str | None, action: str, *args: Any) -> Any:
    """``goalmatch.web.workspaces.<action>(store, *args)``; a Swedish :class:`StoreError` is :class:`BadInput`."""
    store = _store(database_url)
    from goalmatch.errors import StoreError
    from goalmatch.web import workspaces

    try:
        return getattr(workspaces, action)(store, *args)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.engine.dispose()


def add_workspace(database_url: str | None, name: str, frameworks: Sequence[str]) -> str:
    """Worker: create a workspace; a taken name or no frameworks is :class:`BadInput` (Swedish)."""
    created = _call(database_url, "create", name, frameworks)
    return f"arbetsytan {created.name!r} skapad med ramverken {', '.join(created.frameworks)}"


def assign_workspace(database_url: str | None, username: str, name: str) -> str:
    """Worker: put ``username`` in the workspace ``name``."""
    workspace = _call(database_url, "assign", username, name)
    return f"{username} arbetar nu i {workspace.name!r} ({', '.join(workspace.frameworks)})"


def list_workspaces(database_url: str | None) -> list[str]:
    found = _call(database_url, "list_all")
    return [f"{w.name}: {', '.join(w.frameworks)}" for w in found] or ["inga arbetsytor ännu"]


def run_workspace(args: argparse.Namespace) -> list[str]:
    """What ``goalmatch workspace …`` did."""
    if args.workspace_action == "add":
        return [add_workspace(args.database, args.name, args.frameworks)]
    if args.workspace_action == "assign":
        return [assign_workspace(args.database, args.username, args.name)]
    return list_workspaces(args.database)
