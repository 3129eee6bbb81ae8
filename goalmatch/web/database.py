"""The review database's connection and clock, shared by the store and the accounts.

:func:`connect` makes the SQLAlchemy engine (SQLite in WAL mode by default, PostgreSQL by
URL); :func:`utcnow` is the one clock every stored time comes from; the store raises
:class:`goalmatch.errors.StoreError` for a request it cannot carry out.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from goalmatch.errors import StoreError
from goalmatch.web import require_web

require_web()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

__all__ = ["SqliteFile", "StoreError", "as_utc", "connect", "default_database_url", "iso", "utcnow"]


def default_database_url(path: str = "goalmatch-review.sqlite3") -> str:
    return f"sqlite:///{path}"


def connect(url: str) -> Engine:
    """The engine for ``url``: SQLite with WAL, foreign keys and a busy timeout; others with ``pool_pre_ping``.

    A SQLite file is watched (:class:`SqliteFile`): before each connection and transaction
    the file must still be the one first opened, and its ``-wal`` and ``-shm`` files writable.
    """
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})
    database = sa.engine.make_url(url).database
    in_file = bool(database) and database != ":memory:" and not str(database).startswith("file:")
    watch = SqliteFile(str(database)) if in_file else None

    @sa.event.listens_for(engine, "do_connect")
    def _before_connect(*_args: Any) -> None:
        if watch is not None:
            watch.check()

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()
        if watch is not None:
            watch.opened()

    @sa.event.listens_for(engine, "begin")
    def _before_transaction(_conn: Any) -> None:
        if watch is not None:
            watch.check()

    return engine


class SqliteFile:
    """The SQLite file under a running server: still the file it opened, its WAL files writable.

    Deleted or replaced under the server (issue 16, item 17), SQLite kept writing to the
    unlinked file and the decisions were lost; a ``-shm`` file the server cannot write
    (item 18) crashed it with a bus error. :meth:`check` raises an ``OperationalError``
    instead (the app's 503, with the reason logged), before the connection or transaction.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file first opened

    def opened(self) -> None:
        if self.identity is None:
            status = os.stat(self.path)
            self.identity = (status.st_dev, status.st_ino)

    def check(self) -> None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if self.identity is not None:
                self._fault("was deleted under the running server; restore it and restart the server")
            return  # not created yet: the first connection creates it
        if self.identity is not None and (status.st_dev, status.st_ino) != self.identity:
            self._fault("was replaced under the running server (another file at its path); restart the server")
        for suffix in ("-wal", "-shm"):
            side = self.path + suffix
            if os.path.exists(side) and not os.access(side, os.R_OK | os.W_OK):
                self._fault(f"cannot be used: {side} is not writable for the server (check its owner and mode)")

    def _fault(self, problem: str) -> None:
        raise sa.exc.OperationalError("(database file check)", None,
                                      sqlite3.OperationalError(f"the database file {self.path} {problem}"))


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite hands back naive datetimes


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat(timespec="seconds")
