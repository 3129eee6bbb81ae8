"""The review database's connection and clock, shared by the store and the accounts.

:func:`connect` makes the SQLAlchemy engine (SQLite in WAL mode by default, PostgreSQL by
URL); :func:`utcnow` is the one clock every stored time comes from; the store raises
:class:`goalmatch.errors.StoreError` for a request it cannot carry out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from goalmatch.errors import StoreError
from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

__all__ = ["StoreError", "as_utc", "connect", "default_database_url", "iso", "utcnow"]


def default_database_url(path: str = "goalmatch-review.sqlite3") -> str:
    return f"sqlite:///{path}"


def connect(url: str) -> Engine:
    """The engine for ``url``: SQLite with WAL, foreign keys and a busy timeout; others with ``pool_pre_ping``."""
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite hands back naive datetimes


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat(timespec="seconds")
