"""The review web app for handläggare: ``goalmatch serve`` (needs the ``web`` extra).

``create_app(matcher=..., database_url=..., secret=...)`` (:mod:`goalmatch.web.app`) builds
the FastAPI app from the pages (:mod:`~goalmatch.web.pages`), the JSON API
(:mod:`~goalmatch.web.api`, bodies in :mod:`~goalmatch.web.payloads`) and the answers to
failures (:mod:`~goalmatch.web.handlers`); :class:`~goalmatch.web.store.Store` keeps
applications and the decision audit trail, and, mixed in from
:mod:`~goalmatch.web.accounts`, the users, sessions and sign-in throttling.
Importing :mod:`goalmatch` never needs this package's dependencies; importing this one
without them raises an ``ImportError`` that names the extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goalmatch.web.app import create_app
    from goalmatch.web.store import Store

__all__ = ["Store", "create_app", "require_web"]

_NEEDED = ("fastapi", "jinja2", "sqlalchemy", "itsdangerous", "multipart")


def require_web() -> None:
    """Raise an ``ImportError`` naming the ``goalmatch[web]`` extra when a dependency is missing."""
    import importlib.util

    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"the goalmatch review web app needs the 'web' extra (missing: {', '.join(missing)}); "
            "install it with: pip install 'goalmatch[web]'"
        )


def __getattr__(name: str) -> Any:
    if name == "create_app":
        require_web()
        from goalmatch.web.app import create_app

        return create_app
    if name == "Store":
        require_web()
        from goalmatch.web.store import Store

        return Store
    raise AttributeError(f"module 'goalmatch.web' has no attribute {name!r}")
